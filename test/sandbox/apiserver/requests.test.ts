/** The API server's request counter: by user (from the token), verb and resource, through the real client. */
import { expect } from 'chai';
import * as k8s from '@kubernetes/client-node';
import { requestResource, requestUser, requestVerb } from '../../../src/sandbox/apiserver/requests.js';
import type { Sandbox } from '../../../src/sandbox/index.js';
import { sandbox } from './helpers.js';

describe('sandbox apiserver: request counter', () => {
  it('names verbs and resources as kube-apiserver metrics do', () => {
    const u = (p: string) => new URL(p, 'http://127.0.0.1');
    expect(requestVerb('GET', u('/api/v1/namespaces/a/pods'))).to.equal('list');
    expect(requestVerb('GET', u('/api/v1/pods?watch=true'))).to.equal('watch');
    expect(requestVerb('GET', u('/api/v1/namespaces/a/pods/p'))).to.equal('get');
    expect(requestVerb('GET', u('/api/v1/namespaces/a'))).to.equal('get');
    expect(requestVerb('POST', u('/apis/batch/v1/namespaces/a/jobs'))).to.equal('create');
    expect(requestVerb('PATCH', u('/apis/csbs.dev/v1alpha1/namespaces/a/backups/b/status'))).to.equal(
      'patch',
    );
    expect(requestVerb('DELETE', u('/api/v1/namespaces/a/pods'))).to.equal('deletecollection');
    expect(requestResource('/apis/csbs.dev/v1alpha1/namespaces/a/backups/b/status')).to.equal(
      'backups/status',
    );
    expect(requestResource('/api/v1/namespaces/a/pods/p/log')).to.equal('pods/log');
    expect(requestResource('/api/v1/namespaces')).to.equal('namespaces');
    expect(requestResource('/apis/coordination.k8s.io/v1/namespaces/a/leases')).to.equal('leases');
    expect(requestResource('/apis')).to.equal('discovery');
    expect(requestUser(undefined)).to.equal('system:anonymous');
    expect(requestUser('Bearer csbs-controller')).to.equal('csbs-controller');
    expect(requestUser(`Basic ${Buffer.from('alice:pw').toString('base64')}`)).to.equal('alice');
  });

  describe('through the client', () => {
    let sb: Sandbox;
    before(async () => {
      sb = await sandbox();
    });
    after(async () => {
      await sb.stop();
    });

    it('counts each request of a token-named client apart from anonymous ones', async () => {
      const kc = sb.kubeConfig();
      const user = kc.getCurrentUser()!;
      kc.users = [{ ...user, token: 'bench-client' }];
      const core = kc.makeApiClient(k8s.CoreV1Api);
      const before = sb.apiServer.requests.total('bench-client');
      await core.createNamespace({ body: { metadata: { name: 'counted' } } });
      await core.readNamespace({ name: 'counted' });
      await core.listNamespacedConfigMap({ namespace: 'counted' });
      await sb.kubeConfig().makeApiClient(k8s.CoreV1Api).listNamespace();
      expect(sb.apiServer.requests.total('bench-client') - before).to.equal(3);
      const mine = sb.apiServer.requests.snapshot().filter((c) => c.user === 'bench-client');
      expect(mine.map((c) => `${c.verb} ${c.resource} ${c.count}`).sort()).to.deep.equal([
        'create namespaces 1',
        'get namespaces 1',
        'list configmaps 1',
      ]);
      expect(sb.apiServer.requests.total('system:anonymous')).to.be.greaterThan(0);
    });
  });
});
