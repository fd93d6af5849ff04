import 'reflect-metadata';
import { QTasksStarter } from '../lib/index.js';
import { AppModule } from './app.module.js';

// A worker-only process: no HTTP server, runs tasks until SIGINT/SIGTERM, then exits cleanly.
await QTasksStarter.runForever(AppModule.register({ url: process.env.QTASKS_URL ?? 'redis://127.0.0.1:6379' }, false));
