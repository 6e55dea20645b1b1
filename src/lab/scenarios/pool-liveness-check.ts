import { actor, scenario, wait } from '../scenario.js';
const server = actor('server');
const client = actor('client');
export default scenario({
  id: 'pool-liveness-check', article: '003', title: 'draft', summary: 'draft', actors: ['server', 'client'],
  steps: [
    server.listen('L'),
    client.connect('c', 'L'), server.accept('L', 's'),
    client.read('c', { max: 1, peek: true }).as('check idle'),
    server.close('s').as('server closed'),
    wait(60, 'fin arrived'),
    client.read('c', { max: 1, peek: true }).as('check closed'),
    client.connect('c2', 'L'), server.accept('L', 's2'),
    server.linger('s2', 0), server.close('s2').as('server reset'),
    client.read('c2', { max: 1, peek: true }).as('check reset'),
    client.read('c2', { max: 1, peek: true }).as('check reset again'),
    client.connect('c3', 'L'), server.accept('L', 's3'),
    client.read('c3', { max: 1, peek: true }).as('race check'),
    server.close('s3').as('race close'),
    client.write('c3', 'request').as('race write'),
    client.read('c3', { waitMs: 100 }).as('race response'),
    client.read('c3', { waitMs: 100 }).as('race response2'),
    client.write('c3', 'request').as('race write again'),
  ],
  checks: {},
});
