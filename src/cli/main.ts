#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { labCommand } from './lab.js';
import { registerDoctorCommands } from './doctor.js';

const program = new Command();
program
  .name('teardown')
  .description('TCP connection teardown made visible, testable and survivable (Linux).')
  .exitOverride()
  .configureOutput({ outputError: (str, write) => write(str) })
  .showHelpAfterError('(run teardown --help for usage)');

program
  .command('lab')
  .description("run the articles' experiments on this kernel and judge every claim")
  .argument('[scenario...]', 'scenario ids (default: all); see --list')
  .option('--list', 'list the scenarios and the claims each judges')
  .option('--json', 'print the full traces as one JSON object')
  .option('--no-capture', 'do not capture packets')
  .action(async (ids: string[], opts: { list?: boolean; json?: boolean; capture: boolean }) => {
    process.exitCode = await labCommand(ids, opts);
  });

registerDoctorCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // Help and version exit 0; every usage error exits 2 (commander already printed why).
    process.exitCode = e.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`teardown: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
