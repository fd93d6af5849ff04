import { RedisBroker } from '../../lib/index.js';
import { BACKENDS } from '../helpers/backends.js';
import { uniqueAppName } from '../helpers/names.js';
import { describeBackendConformance } from './backend.conformance.js';

// The Redis backend on every deployment it supports: a single server and a 3-master cluster.
for (const deployment of BACKENDS) {
  describeBackendConformance(`redis (${deployment.name})`, {
    async broker() {
      const broker = new RedisBroker({ ...deployment.connection(), name: uniqueAppName('conformance') });
      await broker.start();
      return broker;
    },
    appOptions: () => ({ ...deployment.connection(), name: uniqueAppName('conformance-app') }),
  });
}
