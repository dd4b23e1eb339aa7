import { CryptoKey, jwtVerify } from 'jose';

import { BearerJwtGuard, BenchClaims } from './bearer-jwt.guard';

/** An asymmetric JWT (RS256 or EdDSA) verified by jose with an imported public key. */
export class JoseJwtGuard extends BearerJwtGuard {
  constructor(
    private readonly key: CryptoKey,
    private readonly algorithm: 'RS256' | 'EdDSA',
  ) {
    super();
  }

  protected async verify(token: string): Promise<BenchClaims> {
    const { payload } = await jwtVerify(token, this.key, { algorithms: [this.algorithm] });
    return payload as unknown as BenchClaims;
  }
}
