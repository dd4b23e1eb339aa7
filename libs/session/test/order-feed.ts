/** An order as the subscription tests place it: whose it is, and what it says. */
export interface OrderPlaced {
  orders: string;
  ownerId: string;
}

/** The orders a test places, handed to every running `orders` subscription. */
export class OrderFeed {
  private readonly listeners = new Set<(order: OrderPlaced) => void>();

  /** How many subscriptions follow the feed: one has started once this counts it. */
  get following(): number {
    return this.listeners.size;
  }

  place(order: OrderPlaced): void {
    for (const listener of this.listeners) listener(order);
  }

  async *follow(): AsyncGenerator<OrderPlaced> {
    const queued: OrderPlaced[] = [];
    let wake: (() => void) | undefined;
    const listener = (order: OrderPlaced) => {
      queued.push(order);
      wake?.();
    };
    this.listeners.add(listener);
    try {
      for (;;) {
        const next = queued.shift();
        if (next) {
          yield next;
        } else {
          await new Promise<void>((resolve) => (wake = resolve));
        }
      }
    } finally {
      this.listeners.delete(listener);
    }
  }
}
