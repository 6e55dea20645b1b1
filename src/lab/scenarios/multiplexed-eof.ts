import { actor, scenario, wait } from '../scenario.js';
const server = actor('server');
const client = actor('client');
export default scenario({
  id: 'multiplexed-eof', article: '003', title: 'draft', summary: 'draft', actors: ['server', 'client'],
  steps: [
    server.listen('L'),
    client.connect('c', 'L'), server.accept('L', 's'),
    client.write('c', 'req1'), client.write('c', 'req2'), client.write('c', 'req3').as('in flight'),
    server.read('s').as('server reads'),
    server.write('s', 'rsp1'),
    server.close('s').as('server closes'),
    client.drain('c', 100).as('client reads'),
    client.write('c', 'req4').as('send after eof'),
    client.write('c', 'req5').as('send after rst'),
    client.connect('d', 'L'), server.accept('L', 't'),
    client.write('d', 'req1'), client.write('d', 'req2'), client.write('d', 'req3').as('d in flight'),
    server.read('t', { max: 4 }).as('t reads one'),
    server.write('t', 'rsp1'),
    server.close('t').as('t closes'),
    client.read('d').as('d read 1'),
    client.read('d').as('d read 2'),
    client.read('d').as('d read 3'),
    client.write('d', 'req4').as('d send'),
    client.write('d', 'req5').as('d send 2'),
  ],
  checks: {},
});
