import { actor, scenario, wait } from '../scenario.js';
const server = actor('server');
const client = actor('client');
export default scenario({
  id: 'sigpipe-then-close', article: '002', title: 'draft', summary: 'draft', actors: ['server', 'client'],
  steps: [
    server.listen('L'),
    client.connect('c', 'L'),
    server.accept('L', 's').as('accepted'),
    client.close('c').as('client closed'),
    wait(60, 'fin acked'),
    server.write('s', 'one').as('first write'),
    server.write('s', 'two').as('second write'),
    server.info('s').as('info'),
    server.read('s').as('read'),
    server.write('s', 'three').as('third write'),
    wait(50, 'later'),
    server.close('s').as('closed'),
  ],
  checks: {},
});
