import { Injectable } from '@nestjs/common';
import Bowser from 'bowser';

/** What the session list shows for a client whose user agent names no browser or system. */
export const UNKNOWN_DEVICE = 'Unknown device';

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
    const major = /^\d+/.exec(browser.version ?? '')?.[0];
    const name = [browser.name, major].filter(Boolean).join(' ');
    if (name && os.name) {
      return `${name} on ${os.name}`;
    }
    return name || os.name || UNKNOWN_DEVICE;
  }
}
