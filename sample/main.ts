import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';
import { QTasksErrorFilter } from './qtasks-error.filter.js';

const logger = new Logger('Sample');
const url = process.env.QTASKS_URL ?? 'redis://127.0.0.1:6379';
const port = Number(process.env.PORT ?? 3000);

const app = await NestFactory.create(AppModule.register({ url }));
app.useGlobalFilters(new QTasksErrorFilter());
app.enableShutdownHooks();
await app.listen(port, '127.0.0.1');
logger.log(`listening on http://127.0.0.1:${port} with Redis at ${url}`);
logger.log(`try: curl -X POST http://127.0.0.1:${port}/users/5/record, then curl http://127.0.0.1:${port}/tasks/<uuid>`);
