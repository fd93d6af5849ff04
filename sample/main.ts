import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WebView } from '../lib/index.js';
import { AppModule } from './app.module.js';
import { chooseBackend, EmbeddedBackendHost } from './embedded-backend.js';
import { QTasksErrorFilter } from './qtasks-error.filter.js';

const logger = new Logger('Sample');
const port = Number(process.env.PORT ?? 3000);

// QTASKS_URL if set, else a private redis-server (when installed), else the memory backend.
const backend = await chooseBackend({ logger });
// The dashboard reads Redis: with the memory backend there is nothing for it to read.
const webview = backend.kind === 'memory' ? undefined : { port: Number(process.env.QTASKS_WEBVIEW_PORT ?? 8180) };
const app = await NestFactory.create(EmbeddedBackendHost.wrap(AppModule.register({ ...backend.options, webview }), backend));
app.useGlobalFilters(new QTasksErrorFilter());
app.enableShutdownHooks();
await app.listen(port, '127.0.0.1');
logger.log(`listening on http://127.0.0.1:${port} (tasks: ${backend.kind})`);
if (webview) logger.log(`dashboard on ${app.get(WebView).address}`);
// The CLI reads the same queue straight from Redis, with no app running (the memory backend has none to read).
if (backend.options.url) logger.log(`CLI: node dist/lib/cli/main.js status --url ${backend.options.url} --app QueueTasksSample`);
logger.log(`try: curl -X POST http://127.0.0.1:${port}/users/5/record, then curl http://127.0.0.1:${port}/tasks/<uuid>`);
