// The launcher ships with the testing entry point (users and the sample use it too).
export * from '../../lib/testing/redis-server.js';
