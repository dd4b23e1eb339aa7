import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { INestApplication, Type } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Field, GraphQLModule, ObjectType, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { Test } from '@nestjs/testing';
import request from 'supertest';

import { RequireRecentAuth, Roles, SessionGuard, SessionModule, SessionService } from '../src';
import { RedisServerProcess, startRedisServer } from '../src/testing';
import { admin, alice, uniquePrefix } from './store-contract';

jest.setTimeout(30_000);

@ObjectType()
class Account {
  @Field()
  name!: string;

  @Field()
  secret!: string;
}

@Resolver(() => Account)
class HandlerRolesResolver {
  @Roles('customer', 'admin')
  @Query(() => Account)
  account(): Partial<Account> {
    return { name: 'account' };
  }

  @Roles('admin')
  @ResolveField(() => String)
  secret(): string {
    return 'admin only';
  }
}

@Resolver(() => Account)
class PlainFieldResolver {
  @Roles('customer', 'admin')
  @Query(() => Account)
  account(): Partial<Account> {
    return { name: 'account' };
  }

  @ResolveField(() => String)
  secret(): string {
    return 'anyone who reached the account';
  }
}

@ObjectType()
class Vault {
  @Field()
  content!: string;
}

@RequireRecentAuth()
@Resolver(() => Vault)
class ClassRuleResolver {
  @Query(() => Vault)
  vault(): Partial<Vault> {
    return {};
  }

  @ResolveField(() => String)
  content(): string {
    return 'sealed';
  }
}

describe('SessionGuard and GraphQL field resolvers', () => {
  let server: RedisServerProcess;

  beforeAll(async () => {
    server = await startRedisServer();
  });

  afterAll(async () => {
    await server.dispose();
  });

  async function fixtureApp(
    resolver: Type,
    fieldResolverEnhancers?: ('guards' | 'interceptors' | 'filters')[],
  ): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({ redis: { url: server.url }, keyPrefix: uniquePrefix() }),
        GraphQLModule.forRoot<ApolloDriverConfig>({
          driver: ApolloDriver,
          autoSchemaFile: true,
          path: '/graphql',
          ...(fieldResolverEnhancers ? { fieldResolverEnhancers } : {}),
        }),
      ],
      providers: [resolver, { provide: APP_GUARD, useClass: SessionGuard }],
    }).compile();
    return moduleRef.createNestApplication({ logger: false });
  }

  it.each([
    ['a role on the field resolver', HandlerRolesResolver, 'HandlerRolesResolver.secret'],
    ['recent auth on its resolver class', ClassRuleResolver, 'ClassRuleResolver.content'],
  ])(
    'refuses to start with %s while GraphQL runs no guard on field resolvers',
    async (_case, resolver, name) => {
      for (const enhancers of [undefined, ['interceptors' as const]]) {
        const app = await fixtureApp(resolver, enhancers);
        try {
          await expect(app.init()).rejects.toThrow(
            new RegExp(`${name} name @Roles or @RequireRecentAuth.*fieldResolverEnhancers`),
          );
        } finally {
          await app.close();
        }
      }
    },
  );

  it("checks a field resolver's role with fieldResolverEnhancers: ['guards']", async () => {
    const app = await fixtureApp(HandlerRolesResolver, ['guards']);
    await app.init();
    try {
      const sessions = app.get(SessionService);
      const ask = async (token: string) =>
        (
          await request(app.getHttpServer())
            .post('/graphql')
            .set('Authorization', `Bearer ${token}`)
            .send({ query: '{ account { name secret } }' })
        ).body;
      const customer = await ask((await sessions.create(alice)).token);
      expect(customer.data).toBeNull();
      expect(
        customer.errors.map((e: { extensions: { code: string } }) => e.extensions.code),
      ).toEqual(['FORBIDDEN']);
      expect(JSON.stringify(customer)).not.toContain('admin only');
      const administrator = await ask((await sessions.create(admin)).token);
      expect(administrator.data).toEqual({ account: { name: 'account', secret: 'admin only' } });
    } finally {
      await app.close();
    }
  });

  it('starts with field resolvers that name no requirement', async () => {
    const app = await fixtureApp(PlainFieldResolver);
    await app.init();
    await app.close();
  });
});
