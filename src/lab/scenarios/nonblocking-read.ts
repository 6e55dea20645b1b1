import { actor, scenario, wait } from '../scenario.js';
const server = actor('server');
const client = actor('client');
export default scenario({
  id: 'nonblocking-read', article: '002', title: 'draft', summary: 'draft', actors: ['server', 'client'],
  steps: [
    server.listen('L'),
    client.connect('c', 'L'),
    server.accept('L', 's'),
    server.read('s').as('idle read'),
    server.epoll('s').as('idle epoll'),
    client.close('c').as('peer closed'),
    server.epoll('s', 100).as('epoll after close'),
    server.read('s').as('read after close'),
    server.read('s').as('read again after close'),
    server.close('s').as('closed'),
    wait(60, 'after close'),
    client.connect('c2', 'L'),
    server.accept('L', 's2'),
    client.linger('c2', 0),
    client.close('c2').as('reset sent'),
    server.epoll('s2', 100).as('epoll after reset'),
    server.read('s2').as('read after reset'),
    server.read('s2').as('read again after reset'),
    server.epoll('s2', 0).as('epoll after reset read'),
    server.close('s2').as('reset closed'),
  ],
  checks: {},
});
