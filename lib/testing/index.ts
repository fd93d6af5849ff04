// The testing entry point, `nestjs-qtasks/testing`: helpers for an app's own tests, kept out of
// the main entry so production code never loads them.
export { QTasksTestingModule, type QTasksTestingModuleOptions } from './qtasks-testing.module.js';
export { QTasksTesting, DrainTimeoutError, type DrainOptions, type RecordFilter } from './qtasks-testing.js';
export {
  startRedisServer,
  isRedisInstalled,
  assertRedisInstalled,
  freePort,
  RedisServerError,
  type RedisServerHandle,
  type RedisServerOptions,
} from './redis-server.js';
