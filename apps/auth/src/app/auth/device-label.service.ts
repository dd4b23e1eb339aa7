import { Injectable } from '@nestjs/common';
import Bowser from 'bowser';

/** What the session list shows for a client whose user agent names no browser or system. */
export const UNKNOWN_DEVICE = 'Unknown device';

/**
 * The browser and system names bowser knows. Its last resort for a user agent it does not
 * recognise names the browser after whatever text precedes a `/` ("Visit evil.example to
 * secure your account/1.0 (Linux)"): a stranger's failed login would put that text in the
 * account owner's activity log, as if the service said it. Only known names are shown.
 */
const KNOWN_BROWSERS: ReadonlySet<string> = new Set(Object.values(Bowser.BROWSER_MAP));
const KNOWN_SYSTEMS: ReadonlySet<string> = new Set(Object.values(Bowser.OS_MAP));

/**
 * Turns a user agent into the short label the session list shows ("Chrome 131 on Windows"):
 * browser, major version only, and operating system, parsed by bowser (maintained, MIT). The
 * raw string is long, changes with every minor release and wraps mid-word in a table.
 *
 * @example
 * devices.label(request.headers['user-agent']); // 'Firefox 133 on Linux'
 */
@Injectable()
export class DeviceLabelService {
  label(userAgent: string | undefined): string {
    if (!userAgent?.trim()) {
      return UNKNOWN_DEVICE;
    }
    const { browser, os } = Bowser.parse(userAgent);
    const browserName = known(browser.name, KNOWN_BROWSERS);
    const major = browserName && /^\d+/.exec(browser.version ?? '')?.[0];
    const name = [browserName, major].filter(Boolean).join(' ');
    const system = known(os.name, KNOWN_SYSTEMS);
    if (name && system) {
      return `${name} on ${system}`;
    }
    return name || system || UNKNOWN_DEVICE;
  }
}

function known(name: string | undefined, names: ReadonlySet<string>): string | undefined {
  return name !== undefined && names.has(name) ? name : undefined;
}
