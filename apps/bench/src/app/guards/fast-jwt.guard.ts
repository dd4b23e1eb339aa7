import { createVerifier } from 'fast-jwt';

import { BearerJwtGuard, BenchClaims } from './bearer-jwt.guard';

/** HS256 through fast-jwt, its verified-token cache left off (its default). */
export class FastJwtGuard extends BearerJwtGuard {
  private readonly verifier: (token: string) => BenchClaims;

  constructor(secret: string) {
    super();
    this.verifier = createVerifier({ key: secret, algorithms: ['HS256'] });
  }

  protected verify(token: string): BenchClaims {
    return this.verifier(token);
  }
}
