import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';

import { CreateOrderDto, MAX_ORDER_LINES } from './create-order.dto';

/** As the apps' validation pipe validates a body. */
async function check(body: unknown) {
  const dto = plainToInstance(CreateOrderDto, body);
  const errors = await validate(dto, { whitelist: true, forbidNonWhitelisted: true });
  return { dto, errors };
}

describe('CreateOrderDto', () => {
  it.each([
    ['empty objects', {}],
    ['numbers', 7],
    ['lists', []],
    ['valid lines', { sku: 'TEA-1', quantity: 1 }],
  ])(
    'looks at one line past the cap of a list of 33,000 %s, and refuses it for its length',
    async (_case, item) => {
      const { dto, errors } = await check({ items: Array.from({ length: 33_000 }, () => item) });
      expect(dto.items).toHaveLength(MAX_ORDER_LINES + 1);
      expect(errors.map((error) => error.property)).toEqual(['items']);
      expect(errors[0].constraints).toHaveProperty('arrayMaxSize');
      expect(errors[0].children?.length ?? 0).toBeLessThanOrEqual(MAX_ORDER_LINES + 1);
    },
  );

  it('takes the most lines an order holds', async () => {
    const items = Array.from({ length: MAX_ORDER_LINES }, (_, i) => ({
      sku: `S-${i}`,
      quantity: 1000,
    }));
    const { dto, errors } = await check({ items });
    expect(errors).toEqual([]);
    expect(dto.items).toHaveLength(MAX_ORDER_LINES);
  });

  it.each([
    ['UMBRELLA', 'umbrella'],
    ['Umbrella', 'UMBRELLA'],
    ['a-1', 'A-1'],
  ])('refuses %s and %s on two lines: one product to catalog', async (first, second) => {
    const { errors } = await check({
      items: [
        { sku: first, quantity: 1 },
        { sku: second, quantity: 1 },
      ],
    });
    expect(errors.map((error) => error.constraints)).toEqual([
      { arrayUnique: 'items must name each sku once (SKUs ignore case)' },
    ]);
  });
});
