import {
  ForbiddenException,
  Injectable,
  OnModuleDestroy,
  ServiceUnavailableException,
  UnauthorizedException,
} from '@nestjs/common';
import { firstValueFrom, timeout } from 'rxjs';

import { readPemFiles } from '@cloakroom/service-sessions';
import { Session, SessionAssertions, SessionClient } from '@cloakroom/session';
import { ReconnectingClientTCP } from '@cloakroom/session/rpc';

import { OrdersEnv } from '../config/orders.env';
import { CreateOrderDto } from '../orders/dto/create-order.dto';

/** Catalog's message pattern for prices (catalog's `CatalogMessages.prices`). */
const CATALOG_PRICES = 'catalog.prices';

/** Larger answers are refused: a quote of 50 products is a few KiB. */
const MAX_ANSWER_SIZE = 256 * 1024;

/** One priced line of a quote. */
export interface QuoteLine {
  /**
   * The SKU as catalog knows it (the spelling the product was created with, as its list shows
   * it), which may differ from the basket's in case only: SKUs ignore case, as catalog's
   * uniqueness and an order's lines do, so the basket line it prices is the one whose SKU
   * matches it in any case, and only one does.
   */
  sku: string;
  quantity: number;
  name: string;
  unitPriceCents: number;
  priceCents: number;
}

/** `POST /api/orders/quote`'s answer. */
export interface Quote {
  items: QuoteLine[];
  totalCents: number;
  /**
   * SKUs catalog sells in no case, as the basket spelled them: not priced, not in the total.
   */
  unknownSkus: string[];
}

interface CatalogPrice {
  sku: string;
  name: string;
  priceCents: number;
}

/**
 * Prices a basket by asking catalog over its RPC (mutual TLS), each message acting for the
 * shopper's session with a session assertion for catalog: catalog checks it against the
 * session store, so a session revoked a moment ago gets no quote.
 */
@Injectable()
export class PricingService implements OnModuleDestroy {
  private readonly proxy: ReconnectingClientTCP;
  private readonly catalog: SessionClient<ReconnectingClientTCP>;
  private readonly timeoutMs: number;

  constructor(env: OrdersEnv, assertions: SessionAssertions) {
    const pem = readPemFiles({
      CATALOG_RPC_CA: env.CATALOG_RPC_CA,
      CATALOG_RPC_CLIENT_CERT: env.CATALOG_RPC_CLIENT_CERT,
      CATALOG_RPC_CLIENT_KEY: env.CATALOG_RPC_CLIENT_KEY,
    });
    this.timeoutMs = env.CATALOG_RPC_TIMEOUT * 1000;
    // A connection to a catalog whose host died is dropped once a quote times out on it and
    // catalog has answered nothing for twice the timeout: the next quote connects again.
    this.proxy = new ReconnectingClientTCP(
      {
        host: env.CATALOG_RPC_HOST,
        port: env.CATALOG_RPC_PORT,
        maxBufferSize: MAX_ANSWER_SIZE,
        tlsOptions: {
          ca: pem.CATALOG_RPC_CA,
          cert: pem.CATALOG_RPC_CLIENT_CERT,
          key: pem.CATALOG_RPC_CLIENT_KEY,
          minVersion: 'TLSv1.3',
        },
      },
      { silentMs: Math.max(2 * this.timeoutMs, 1000), name: 'Catalog' },
    );
    this.catalog = assertions.client(this.proxy, 'catalog');
  }

  async onModuleDestroy(): Promise<void> {
    await this.proxy.close();
  }

  /**
   * The basket's lines at catalog's current prices. 401 or 403 when catalog refuses the
   * session (revoked meanwhile, roles changed), 503 when it does not answer in time.
   */
  async quote(session: Session, basket: CreateOrderDto): Promise<Quote> {
    const skus = basket.items.map((item) => item.sku);
    // Catalog answers a product under its own spelling, whichever case it was asked in. Two
    // answers for one SKU leave its price to guess: that catalog is answering nonsense.
    const prices = new Map<string, CatalogPrice>();
    for (const price of await this.prices(session, skus)) {
      if (prices.has(skuKey(price.sku))) {
        throw catalogUnavailable();
      }
      prices.set(skuKey(price.sku), price);
    }
    const items: QuoteLine[] = [];
    const unknownSkus = new Set<string>();
    for (const { sku, quantity } of basket.items) {
      const price = prices.get(skuKey(sku));
      if (!price) {
        unknownSkus.add(sku);
        continue;
      }
      const unitPriceCents = price.priceCents;
      items.push({
        sku: price.sku,
        quantity,
        name: price.name,
        unitPriceCents,
        priceCents: unitPriceCents * quantity,
      });
    }
    const totalCents = items.reduce((total, line) => total + line.priceCents, 0);
    // Prices are not negative, so a line past 2^53 makes the total unsafe too: such a sum is
    // already rounded, and a wrong amount must not be answered as a price.
    if (!Number.isSafeInteger(totalCents)) {
      throw catalogUnavailable();
    }
    return { items, totalCents, unknownSkus: [...unknownSkus] };
  }

  private async prices(session: Session, skus: string[]): Promise<CatalogPrice[]> {
    let answer: unknown;
    try {
      answer = await firstValueFrom(
        this.catalog.send<unknown>(CATALOG_PRICES, { skus }, session).pipe(timeout(this.timeoutMs)),
      );
    } catch (error) {
      const status = (error as { status?: unknown } | null)?.status;
      if (status === 401) throw new UnauthorizedException('Authentication required');
      if (status === 403) throw new ForbiddenException('Missing role');
      throw catalogUnavailable();
    }
    // Catalog is trusted to price, not to be well-formed: a bad answer is an outage.
    if (!Array.isArray(answer) || !answer.every(isCatalogPrice)) {
      throw catalogUnavailable();
    }
    return answer;
  }
}

/**
 * What tells SKUs apart: their letters in any case, as an order's one-line-per-SKU rule and
 * catalog's unique index on `lower(sku)` have it. SKUs are ASCII (`OrderItemDto`), which
 * `toLowerCase` folds as catalog's databases do (PostgreSQL under a Turkish collation aside,
 * where `I` is not `i`: catalog then tells them apart, and answers only the one asked for).
 */
function skuKey(sku: string): string {
  return sku.toLowerCase();
}

function isCatalogPrice(value: unknown): value is CatalogPrice {
  const price = value as Partial<CatalogPrice> | null;
  return (
    typeof price?.sku === 'string' &&
    typeof price.name === 'string' &&
    typeof price.priceCents === 'number' &&
    Number.isSafeInteger(price.priceCents) &&
    price.priceCents >= 0
  );
}

function catalogUnavailable(): ServiceUnavailableException {
  return new ServiceUnavailableException({
    message: 'Catalog unavailable',
    error: 'catalog_unavailable',
  });
}
