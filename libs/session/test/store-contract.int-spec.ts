import { describeStoreContract, STORE_ADAPTERS } from './store-contract';

jest.setTimeout(60_000);

describe.each(STORE_ADAPTERS)('SessionStore contract', describeStoreContract);
