/** Where shoald's agent finds Docker's socket (as dockerode does), and when it leaves the calls to dockerode. */
import t from 'tap';
import { dockerSocketPath } from '../../src/agent/docker-api';

t.test('DOCKER_HOST decides the socket', async (t) => {
  t.equal(dockerSocketPath({}), '/var/run/docker.sock', 'unset: the default socket');
  t.equal(dockerSocketPath({ DOCKER_HOST: 'unix:///run/shoal-docker/docker.sock' }), '/run/shoal-docker/docker.sock');
  t.equal(dockerSocketPath({ DOCKER_HOST: 'unix://' }), '/var/run/docker.sock', 'unix:// without a path: the default');
  t.equal(dockerSocketPath({ DOCKER_HOST: 'tcp://10.0.0.5:2376' }), undefined, 'tcp (maybe TLS): dockerode');
  t.equal(dockerSocketPath({ DOCKER_HOST: 'ssh://me@host' }), undefined, 'ssh: dockerode');
});
