import type { Keyring } from '../../auth/keyring.ts';
import type { Bus } from '../../events/bus.ts';
import { topics } from '../../events/event-map.ts';

export type Retirement = 'AFTER_TOKENS_EXPIRE' | 'NOW';

/** The operator's view of token signing keys: list them, rotate them, and tell every node. */
export function createSigningKeyService({ keyring, bus, onError }: { keyring: Keyring; bus: Pick<Bus, 'publish'>; onError: (err: unknown) => void }) {
  return {
    list: () => keyring.list(),

    async rotate(retirePrevious: Retirement) {
      const kid = await keyring.rotate({ retirePrevious });
      // Other nodes re-read the keys now; if the bus is away, within the keyring's refresh.
      await bus.publish(topics.platform(), { kind: 'signingKeys.changed' }).catch(onError);
      const keys = await keyring.list();
      // A concurrent rotation may already have retired this key: then the newer one is current.
      return { current: keys.find((key) => key.kid === kid) ?? keys.find((key) => key.signing)!, keys };
    },
  };
}
export type SigningKeyService = ReturnType<typeof createSigningKeyService>;
