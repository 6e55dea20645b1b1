import { actor, scenario, wait } from '../scenario.js';
const server = actor('server');
const client = actor('client');
export default scenario({
  id: 'retry-on-fresh-connection', article: '003', title: 'draft', summary: 'draft', actors: ['server', 'client'],
  steps: [
    server.listen('L'),
    client.connect('c1', 'L'), server.accept('L', 's1'),
    server.close('s1').as('server reaps idle'),
    wait(60, 'idle'),
    client.write('c1', 'call').as('attempt 1 write'),
    client.read('c1', { waitMs: 100 }).as('attempt 1 read'),
    client.close('c1'),
    client.connect('c2', 'L').as('fresh connection'), server.accept('L', 's2'),
    client.write('c2', 'call').as('attempt 2 write'),
    server.read('s2', { waitMs: 100 }).as('server gets call'),
    server.write('s2', 'answer').as('server answers'),
    client.read('c2', { waitMs: 100 }).as('attempt 2 read'),
  ],
  checks: {},
});
