import t from 'tap';
import { startEtcd } from './etcd-server';

t.test('starts a real etcd, restarts it keeping data, and cleans up', async (t) => {
  const etcd = await startEtcd();
  t.teardown(() => etcd.close());
  const put = await fetch(`${etcd.endpoint}/v3/kv/put`, {
    method: 'POST', body: JSON.stringify({ key: Buffer.from('k').toString('base64'), value: Buffer.from('v').toString('base64') }),
  });
  t.equal(put.status, 200);
  await etcd.restart();
  const got = (await (await fetch(`${etcd.endpoint}/v3/kv/range`, {
    method: 'POST', body: JSON.stringify({ key: Buffer.from('k').toString('base64') }),
  })).json()) as { kvs?: { value: string }[] };
  t.equal(Buffer.from(got.kvs![0].value, 'base64').toString(), 'v', 'data survives a restart');
});
