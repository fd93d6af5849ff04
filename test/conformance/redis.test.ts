import { inject } from 'vitest';
import { RedisBroker } from '../../lib/index.js';
import { uniqueAppName } from '../helpers/names.js';
import { describeBackendConformance } from './backend.conformance.js';

describeBackendConformance('redis', {
  async broker() {
    const broker = new RedisBroker({ url: inject('redisUrl'), name: uniqueAppName('conformance') });
    await broker.start();
    return broker;
  },
  appOptions: () => ({ url: inject('redisUrl'), name: uniqueAppName('conformance-app') }),
});
