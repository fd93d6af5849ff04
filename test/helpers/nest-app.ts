import type { INestApplicationContext, Type } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { QTasksModule, type QTasksModuleOptions } from '../../lib/index.js';

/** Boots a Nest application context with QTasksModule and the given providers. */
export async function startNestApp(
  options: QTasksModuleOptions,
  providers: Type<unknown>[],
): Promise<INestApplicationContext> {
  @Module({ imports: [QTasksModule.forRoot(options)], providers })
  class TestAppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [TestAppModule] }).compile();
  await moduleRef.init();
  return moduleRef;
}
