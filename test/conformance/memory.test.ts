import { MemoryBroker } from '../../lib/index.js';
import { describeBackendConformance } from './backend.conformance.js';

describeBackendConformance('memory', {
  async broker() {
    const broker = new MemoryBroker();
    await broker.start();
    return broker;
  },
  appOptions: () => ({ backend: 'memory' }),
});
