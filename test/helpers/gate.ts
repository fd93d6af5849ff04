/** A promise the test opens by hand, to hold a task (and its worker slot) as long as needed. */
export class Gate {
  private release!: () => void;
  private entered!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.release = resolve));
  /** Resolves once a task reached the gate. */
  readonly reached = new Promise<void>((resolve) => (this.entered = resolve));

  pass(): Promise<void> {
    this.entered();
    return this.opened;
  }

  open(): void {
    this.release();
  }
}
