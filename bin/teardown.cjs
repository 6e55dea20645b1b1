#!/bin/sh
":" //; unset NODE_EXTRA_CA_CERTS; exec node "$0" "$@"
// The `teardown` command. This file is read twice: first by sh, which runs only the line above,
// then by Node, for which that line is a string and a comment. sh drops NODE_EXTRA_CA_CERTS and
// execs node on this same file ($0; Node follows npm's node_modules/.bin symlink to it, and its
// .cjs name makes it CommonJS); arguments, exit status and signals pass unchanged.
//
// Why drop the variable: teardown makes no TLS connection (nor do the processes it starts), and
// Node 20 reads and parses every certificate that variable names at the start of each process,
// before any of our code runs (nodejs/node#40524): 30 ms with a 144-certificate bundle, as long
// as `teardown ss` takes on an idle machine without it. Newer Node lines load them only once tls
// is loaded (nodejs/node#59856). Why not a plain sh script: it would need readlink(1), another
// process, to find the package through npm's symlink.
//
// start.cjs loads the CLI's one-file build with its V8 code cache (scripts/bundle-cli.ts).
'use strict';
require('../dist/src/cli/start.cjs').run();
