import { Injectable } from '@nestjs/common';

/** Stands in for a database, to show that tasks use injected dependencies. */
@Injectable()
export class UsersRepository {
  private readonly ids = new Set<number>();

  save(id: number): void {
    this.ids.add(id);
  }

  count(): number {
    return this.ids.size;
  }
}
