// The page talks to the services through the gateway, on its own origin. The session token
// lives in an HttpOnly cookie: this script never sees it, the browser sends it. Everything the
// server sends is shown as text (textContent), never parsed as HTML.
'use strict';

const $ = (selector) => document.querySelector(selector);

class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const message = body && body.message;
    super((Array.isArray(message) ? message.join('; ') : message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

/** The user closed the password prompt: the action that needed it did not happen. */
class ReauthCancelled extends Error {
  constructor() {
    super('Cancelled: that action needs your password.');
  }
}

/** A call's answer: its body, and the next page's path when the list goes on (`Link`). */
async function exchange(method, path, body, headers = {}) {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? headers : { ...headers, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, data, response.headers.get('Retry-After'));
  }
  return { data, next: nextPage(response.headers.get('Link')) };
}

async function request(method, path, body, headers) {
  return (await exchange(method, path, body, headers)).data;
}

/** The `rel="next"` target of a `Link` header: a path on this origin, or null. */
function nextPage(link) {
  const match = /^<(\/[^/>][^>]*)>;\s*rel="next"$/.exec(link || '');
  return match ? match[1] : null;
}

/** A paged list whole (at most `maxPages` pages), following its `Link` headers. */
async function everyPage(path, maxPages) {
  const items = [];
  for (let next = path, pages = 0; next && pages < maxPages; pages += 1) {
    const page = await exchange('GET', next);
    items.push(...page.data);
    next = page.next;
  }
  return items;
}

function needsReauthentication(error) {
  return (
    error instanceof ApiError &&
    error.status === 401 &&
    error.body !== null &&
    error.body.error === 'reauthentication_required'
  );
}

/**
 * A call to the API. Sensitive actions answer 401 `reauthentication_required` when the last
 * password entry is too old: the page then asks for the password and repeats the call once
 * (a second refusal is an error like any other, not another prompt).
 */
async function api(method, path, body, headers) {
  try {
    return await request(method, path, body, headers);
  } catch (error) {
    if (!needsReauthentication(error)) throw error;
    await confirmPassword();
    return request(method, path, body, headers);
  }
}

function describe(error) {
  if (!(error instanceof ApiError)) return String(error.message || error);
  if ((error.status === 429 || error.status === 503) && error.retryAfter) {
    return `${error.message} Try again in ${waitText(error.retryAfter)}.`;
  }
  return `${error.status}: ${error.message}`;
}

function waitText(retryAfter) {
  const value = Number(retryAfter);
  if (Number.isFinite(value)) {
    if (value >= 120) return `${Math.ceil(value / 60)} minutes`;
    return value === 1 ? '1 second' : `${value} seconds`;
  }
  return `a moment (after ${new Date(retryAfter).toLocaleTimeString()})`;
}

function flash(message, isError = false) {
  const element = $('#flash');
  element.textContent = message;
  element.classList.toggle('error', isError);
  element.hidden = false;
}

function when(value) {
  return value ? new Date(value).toLocaleString() : '';
}

function day(value) {
  return value ? new Date(value).toLocaleDateString() : '';
}

function shorten(text, length) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

function euros(cents) {
  return (cents / 100).toLocaleString(undefined, { style: 'currency', currency: 'EUR' });
}

/** A table row from cell values: strings become text (never HTML), nodes are appended. */
function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const td = document.createElement('td');
    if (cell instanceof Node) td.append(cell);
    else td.textContent = cell;
    tr.append(td);
  }
  return tr;
}

/** One row spanning the table: a placeholder ("no sessions") or a section's own error. */
function noteRow(text, columns, className = 'muted') {
  const tr = row([text]);
  tr.cells[0].colSpan = columns;
  tr.cells[0].className = className;
  return tr;
}

function button(label, onClick, className = 'secondary') {
  const element = document.createElement('button');
  element.type = 'button';
  element.className = className;
  element.textContent = label;
  element.addEventListener('click', onClick);
  return element;
}

function tag(text, className = 'tag') {
  return Object.assign(document.createElement('span'), { className, textContent: text });
}

function fragment(...nodes) {
  const result = document.createDocumentFragment();
  result.append(...nodes);
  return result;
}

let me = null;

/**
 * Whether the page still shows the signed-in user a read started for (`reader`, the `me` of
 * then): an answer that arrives after a logout, or a login as someone else in this browser, is
 * the previous user's and is dropped, never drawn on the next one's page.
 */
function stillFor(reader) {
  return me !== null && me === reader;
}

/**
 * Runs a user's action: a 401 means the session ended (revoked, expired): back to the login
 * form. A 403 may mean an administrator changed the user's roles since the page was filled:
 * the page is then filled again for the roles the session has now (`refillIfRolesChanged`).
 * Errors go to the flash line and, when given, next to the form that caused them.
 */
async function attempt(action, success, errorElement) {
  $('#flash').hidden = true;
  if (errorElement) errorElement.hidden = true;
  try {
    await action();
    if (success) flash(success);
  } catch (error) {
    let failure = error;
    if (error instanceof ApiError && error.status === 403 && me) {
      try {
        if (await refillIfRolesChanged()) {
          flash(`Your roles have changed. ${describe(error)}`, true);
          return;
        }
      } catch (reading) {
        failure = reading;
      }
    }
    if (
      failure instanceof ApiError &&
      failure.status === 401 &&
      me &&
      !needsReauthentication(failure)
    ) {
      showLogin('Your session has ended. Please log in again.');
      return;
    }
    const message = describe(failure);
    flash(message, true);
    if (errorElement) {
      errorElement.textContent = message;
      errorElement.hidden = false;
    }
  }
}

/**
 * Reads the session again and, when its roles are no longer those the page was filled for,
 * fills the page again (`showApp`): sections the roles no longer grant (the administration,
 * with other users' data) are hidden and emptied, not left on show. Answers whether it did.
 */
async function refillIfRolesChanged() {
  const { user } = await request('GET', '/api/auth/session');
  const shown = me ? me.roles : [];
  const same =
    user.roles.length === shown.length && user.roles.every((role) => shown.includes(role));
  if (same) return false;
  await showApp();
  return true;
}

/**
 * Loads one section of the page; its failure (a service down, say) shows in that section and
 * leaves the others working. A dead session still goes back to the login form.
 */
async function section(load, tbody, columns) {
  try {
    await load();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) throw error;
    tbody.replaceChildren(noteRow(`Could not load: ${describe(error)}`, columns, 'error-text'));
  }
}

// ---- re-authentication ------------------------------------------------------------------

let pendingReauth = null;
let settleReauth = null;

/** Asks for the password once, however many calls are waiting for it. */
function confirmPassword() {
  if (!pendingReauth) {
    pendingReauth = new Promise((resolve, reject) => {
      settleReauth = { resolve, reject };
      $('#reauth-form').reset();
      $('#reauth-error').hidden = true;
      $('#reauth-dialog').showModal();
    }).finally(() => {
      pendingReauth = null;
      settleReauth = null;
    });
  }
  return pendingReauth;
}

function closeReauth(outcome) {
  const settle = settleReauth;
  settleReauth = null;
  if ($('#reauth-dialog').open) $('#reauth-dialog').close();
  if (!settle) return;
  if (outcome === 'done') settle.resolve();
  else settle.reject(new ReauthCancelled());
}

/**
 * The re-authentication in flight, if any: it rotates the session, and the orders socket of the
 * old id may close (4401) before its answer sets the new cookie.
 */
let rotation = null;

$('#reauth-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  const password = new FormData(form).get('password');
  const error = $('#reauth-error');
  error.hidden = true;
  form.querySelector('button[type=submit]').disabled = true;
  try {
    rotation = request('POST', '/api/auth/reauthenticate', { password });
    await rotation;
    closeReauth('done');
  } catch (failure) {
    form.elements.password.value = '';
    error.textContent =
      failure instanceof ApiError && failure.status === 401
        ? 'Wrong password.'
        : failure instanceof ApiError && failure.status === 429
          ? `Too many attempts. Try again in ${waitText(failure.retryAfter || 60)}.`
          : describe(failure);
    error.hidden = false;
    form.elements.password.focus();
  } finally {
    rotation = null;
    form.querySelector('button[type=submit]').disabled = false;
  }
});

$('#reauth-cancel').addEventListener('click', () => closeReauth('cancelled'));
// Escape closes a modal dialog by itself: the waiting action is cancelled then too.
$('#reauth-dialog').addEventListener('close', () => closeReauth('cancelled'));

// ---- login ------------------------------------------------------------------------------

/**
 * Back to the login form. The signed-in page is emptied, not just hidden: the next user of
 * this browser must not find (or briefly see) the previous one's sessions, orders or users.
 */
function showLogin(message) {
  me = null;
  liveOrders.stop();
  shownOrders.clear();
  unlistedOrders.clear();
  $('#app-view').hidden = true;
  $('#whoami-bar').hidden = true;
  $('#login-view').hidden = false;
  for (const tbody of document.querySelectorAll('#app-view tbody')) tbody.replaceChildren();
  for (const element of document.querySelectorAll('#app-view dd')) element.textContent = '';
  for (const form of document.querySelectorAll('#app-view form')) form.reset();
  closeUser();
  Object.assign(userList, { search: '', cursors: [null], page: 0, next: null });
  myActivity.forget();
  hideSessionCap();
  if (message) flash(message, true);
}

/**
 * Logs in. When the account is at its session cap and the server refuses new sessions
 * (409 with the live ones), the user picks the session to end and the login is sent again.
 */
async function logIn(credentials) {
  try {
    await request('POST', '/api/auth/login', credentials);
  } catch (error) {
    if (error instanceof ApiError && error.status === 409 && Array.isArray(error.body?.sessions)) {
      showSessionCap(credentials, error.body.sessions);
      return;
    }
    throw error;
  }
  $('#login-form').reset();
  hideSessionCap();
  await showApp();
}

function showSessionCap(credentials, sessions) {
  const items = sessions.map((session) => {
    const li = document.createElement('li');
    const text = document.createElement('span');
    text.append(
      tag(session.device || 'Unknown device', 'choice-title'),
      tag(`last seen ${when(session.lastSeenAt)}`, 'muted'),
    );
    const end = button('End this one', () =>
      attempt(
        () => logIn({ ...credentials, replaceSession: session.id }),
        'That session is ended; you are logged in here.',
      ),
    );
    li.append(text, end);
    li.dataset.sessionId = session.id;
    return li;
  });
  $('#cap-list').replaceChildren(...items);
  $('#session-cap').hidden = false;
}

function hideSessionCap() {
  $('#cap-list').replaceChildren();
  $('#session-cap').hidden = true;
}

$('#cap-cancel').addEventListener('click', hideSessionCap);

$('#login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  attempt(() =>
    logIn({
      username: form.get('username'),
      password: form.get('password'),
      rememberMe: form.get('rememberMe') === 'on',
    }),
  );
});

$('#logout').addEventListener('click', () =>
  attempt(async () => {
    await request('POST', '/api/auth/logout');
    showLogin();
    flash('Logged out.');
  }),
);

// ---- the signed-in page -----------------------------------------------------------------

/** Fills the signed-in page, then shows it: never half-loaded, never with stale rows. */
async function showApp() {
  const { user, session } = await api('GET', '/api/auth/session');
  me = user;
  $('#bar-user').textContent = user.username;
  $('#me-user').textContent = user.username;
  $('#me-id').textContent = user.id;
  $('#me-roles').textContent = user.roles.join(', ') || '(none)';
  $('#me-expires').textContent = when(session.expiresAt);
  const isAdmin = user.roles.includes('admin');
  $('#admin').hidden = !isAdmin;
  if (!isAdmin) {
    closeUser();
    $('#user-rows').replaceChildren();
  }
  $('#orders-title').textContent = isAdmin ? 'All orders' : 'My orders';
  $('#place-order').hidden = !user.roles.includes('customer');
  await Promise.all([
    section(loadProducts, $('#product-rows'), 4),
    section(loadOrders, $('#order-rows'), 4),
    section(loadSessions, $('#session-rows'), 6),
    section(() => myActivity.show('/api/auth/activity'), $('#activity-rows'), 5),
    isAdmin ? section(loadUsers, $('#user-rows'), 6) : null,
  ]);
  $('#login-view').hidden = true;
  $('#app-view').hidden = false;
  $('#whoami-bar').hidden = false;
  liveOrders.start();
}

async function loadProducts() {
  // The catalog pages its list; what is for sale is shown whole (up to 10,000 products).
  const products = await everyPage('/api/catalog/products?limit=200', 50);
  const rows = products.map((product) => {
    const quantity = document.createElement('input');
    quantity.type = 'number';
    quantity.min = '0';
    quantity.max = '1000';
    quantity.value = '0';
    quantity.dataset.sku = product.sku;
    quantity.setAttribute('aria-label', `Quantity of ${product.name}`);
    const tr = row([product.sku, product.name, euros(product.priceCents), quantity]);
    tr.cells[2].className = 'num';
    tr.cells[3].className = 'num';
    return tr;
  });
  $('#product-rows').replaceChildren(...rows);
}

function seesOrders(user) {
  return user.roles.includes('customer') || user.roles.includes('admin');
}

/**
 * The orders on show, by id: the list's first page, and the orders pushed live since. One
 * order is one row however it arrived (the list, the live feed, the answer to placing it).
 */
const shownOrders = new Map();
/** Orders that came live and the list has not shown yet: a list read before they were placed. */
const unlistedOrders = new Map();

function orderRow(order) {
  // Each item is one unbreakable unit ("2 × TEA-EARL-GREY"); a long order wraps between them.
  const items = fragment();
  order.items.forEach((item, index) => {
    if (index > 0) items.append(', ');
    items.append(tag(`${item.quantity} × ${item.sku}`, 'item'));
  });
  const tr = row([when(order.createdAt), order.id.slice(0, 8), order.userId, items]);
  tr.cells[3].className = 'text';
  tr.dataset.orderId = order.id;
  return tr;
}

function renderOrders() {
  const orders = [...shownOrders.values()].sort(
    (a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt),
  );
  const rows = orders.map(orderRow);
  $('#order-rows').replaceChildren(...(rows.length ? rows : [noteRow('No orders yet.', 4)]));
}

/** An order placed while the page is open (here or on another device): at the top, once. */
function showNewOrder(order) {
  if (!me || !seesOrders(me) || !order || typeof order.id !== 'string') return;
  unlistedOrders.set(order.id, order);
  shownOrders.set(order.id, order);
  renderOrders();
}

async function loadOrders() {
  if (!seesOrders(me)) {
    shownOrders.clear();
    unlistedOrders.clear();
    $('#order-rows').replaceChildren(noteRow('Your roles do not include orders.', 4));
    return;
  }
  const reader = me;
  const orders = await api('GET', '/api/orders');
  if (!stillFor(reader)) return;
  shownOrders.clear();
  for (const order of orders) shownOrders.set(order.id, order);
  for (const [id, order] of unlistedOrders) {
    if (shownOrders.has(id)) unlistedOrders.delete(id);
    else shownOrders.set(id, order);
  }
  renderOrders();
}

/**
 * The device label ("Chrome 131 on Windows"), with the raw user agent only as a tooltip: raw
 * strings are long, unbroken and say little to a person.
 */
function deviceCell(session) {
  const label = session.device || shorten(session.userAgent || '', 40) || 'Unknown device';
  const cell = fragment(document.createTextNode(label));
  if (session.current) cell.append(' ', tag('this device', 'tag current'));
  return cell;
}

/** A session as both session tables show it; `revoke` is left out for the current one. */
function sessionRow(session, revoke) {
  const kept = session.persistent ? tag('remembered') : tag('browser session', 'muted');
  const action = revoke && !session.current ? button('Revoke', revoke) : '';
  const tr = row([
    deviceCell(session),
    when(session.createdAt),
    when(session.lastSeenAt),
    session.ip || '',
    kept,
    action,
  ]);
  if (session.userAgent) tr.cells[0].title = session.userAgent;
  tr.dataset.sessionId = session.id;
  if (session.current) tr.dataset.current = 'true';
  return tr;
}

async function loadSessions() {
  const reader = me;
  const sessions = await api('GET', '/api/auth/sessions');
  if (!stillFor(reader)) return;
  const rows = sessions.map((session) =>
    sessionRow(session, () =>
      attempt(async () => {
        await api('DELETE', `/api/auth/sessions/${encodeURIComponent(session.id)}`);
        await Promise.all([loadSessions(), myActivity.reload()]);
      }, 'Session revoked.'),
    ),
  );
  $('#session-rows').replaceChildren(...rows);
}

$('#revoke-others').addEventListener('click', () =>
  attempt(async () => {
    await api('DELETE', '/api/auth/sessions');
    await Promise.all([loadSessions(), myActivity.reload()]);
  }, 'Every other session is logged out.'),
);

/** The basket as the quantity inputs hold it: lines with a quantity above zero. */
function basket() {
  return [...document.querySelectorAll('#product-rows input')]
    .map((input) => ({ sku: input.dataset.sku, quantity: Number(input.value) }))
    .filter((item) => Number.isInteger(item.quantity) && item.quantity > 0);
}

const QUOTE_DELAY_MS = 250;
let quoteTimer;
/** Counts quotes asked, so that a slow answer never overwrites a newer one. */
let quoteSeq = 0;

/**
 * The basket's total at catalog's prices: orders asks catalog on this session's behalf
 * (`POST /api/orders/quote`). A quote that fails leaves a word, not an error banner: the order
 * can still be placed.
 */
function updateQuote() {
  clearTimeout(quoteTimer);
  const total = $('#order-total');
  const items = basket();
  if (!items.length) {
    quoteSeq++;
    total.textContent = '';
    return;
  }
  quoteTimer = setTimeout(async () => {
    const seq = ++quoteSeq;
    try {
      const quote = await request('POST', '/api/orders/quote', { items });
      if (seq !== quoteSeq) return;
      const missing = quote.unknownSkus.length
        ? ` (not sold: ${quote.unknownSkus.join(', ')})`
        : '';
      total.textContent = `Total at current prices: ${euros(quote.totalCents)}${missing}`;
    } catch (error) {
      if (seq !== quoteSeq) return;
      total.textContent = `No price quote right now: ${describe(error)}`;
    }
  }, QUOTE_DELAY_MS);
}

$('#product-rows').addEventListener('input', updateQuote);

/**
 * The `Idempotency-Key` of the basket being ordered: sending the same basket again after an
 * error or an answer that never came (the order may have been placed) names the same key, so
 * the service answers the order it placed instead of placing a second. Once an order is
 * placed, or the basket changes, the next one gets a new key.
 */
const orderKey = { basket: '', key: '' };

function orderKeyFor(items) {
  const basket = JSON.stringify(items);
  if (orderKey.basket !== basket) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    orderKey.key = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
    orderKey.basket = basket;
  }
  return orderKey.key;
}

$('#order-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const items = basket();
  if (!items.length) {
    flash('Choose a quantity for at least one product.', true);
    return;
  }
  const key = orderKeyFor(items);
  attempt(async () => {
    const order = await api('POST', '/api/orders', { items }, { 'Idempotency-Key': key });
    if (orderKey.key === key) orderKey.basket = '';
    showNewOrder(order);
    await loadProducts();
    updateQuote();
  }, 'Order placed.');
});

// ---- live orders ------------------------------------------------------------------------

/** The close code of the orders socket when there is no session, or it was revoked. */
const SESSION_ENDED = 4401;
const RECONNECT_FIRST_MS = 1000;
const RECONNECT_MAX_MS = 30_000;
/** A socket that stayed open this long was a working connection: the backoff starts over. */
const STABLE_MS = 5000;

/**
 * The orders service's WebSocket (`/api/orders/ws`, on the page's own origin: the browser
 * sends the session cookie and the `Origin` the service checks). It pushes the orders this
 * user places anywhere, and closes with 4401 the moment the session ends (revoked on another
 * device, say): once the session read confirms it, the page goes back to the login form,
 * without waiting for a click.
 * Any other close (a restart, the network) is retried with a doubling wait, and the list is
 * read again on reconnecting, for the orders placed meanwhile.
 */
class LiveOrders {
  constructor(status) {
    this.status = status;
    this.socket = null;
    this.timer = null;
    this.delay = RECONNECT_FIRST_MS;
  }

  start() {
    this.stop();
    this.connect();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    this.delay = RECONNECT_FIRST_MS;
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close(1000);
    this.show('');
  }

  connect() {
    const url = new URL('/api/orders/ws', window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const socket = new WebSocket(url);
    let openedAt = null;
    this.socket = socket;
    this.show('connecting');
    socket.addEventListener('open', () => {
      if (this.socket !== socket) return;
      openedAt = Date.now();
      this.show('open');
      // Orders placed before the socket listened (or while it was down) come from the list.
      section(loadOrders, $('#order-rows'), 4).catch(() => this.sessionEnded());
    });
    socket.addEventListener('message', (event) => {
      if (this.socket === socket) this.receive(event.data);
    });
    socket.addEventListener('close', (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (event.code === SESSION_ENDED) {
        this.confirmEnded();
        return;
      }
      if (openedAt !== null && Date.now() - openedAt >= STABLE_MS) {
        this.delay = RECONNECT_FIRST_MS;
      }
      // An upgrade refused outright (401) closes as 1006, like a network error: ask.
      if (openedAt === null) this.checkSession();
      this.retry();
    });
  }

  receive(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (message && message.type === 'order') showNewOrder(message.order);
  }

  retry() {
    this.show('reconnecting');
    const delay = this.delay;
    this.delay = Math.min(this.delay * 2, RECONNECT_MAX_MS);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  async checkSession() {
    try {
      await request('GET', '/api/auth/session');
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) this.sessionEnded();
    }
  }

  /**
   * 4401 closes the socket of a session id that stopped working, and a re-authentication or
   * a password change does that too: it rotates the session to a new id and cookie. One read
   * of the session tells the two apart: 401, the session ended; otherwise reconnect at once
   * with the new cookie.
   */
  async confirmEnded() {
    await rotation?.catch(() => undefined);
    try {
      await request('GET', '/api/auth/session');
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) this.sessionEnded();
      else this.retry();
      return;
    }
    if (me && this.socket === null && this.timer === null) this.connect();
  }

  sessionEnded() {
    if (me) showLogin('Your session ended. Please log in again.');
  }

  show(state) {
    this.status.dataset.state = state;
    this.status.textContent =
      { connecting: 'Connecting…', open: 'Live', reconnecting: 'Reconnecting…' }[state] || '';
  }
}

const liveOrders = new LiveOrders($('#orders-live'));

// ---- security activity ------------------------------------------------------------------

const EVENT_WORDS = {
  login: 'Logged in',
  'login.failed': 'Failed login',
  'login.throttled': 'Login blocked: too many attempts',
  logout: 'Logged out',
  reauthenticated: 'Password confirmed',
  'session.revoked': 'Session revoked',
  'session.expired': 'Session expired',
  'session.evicted': 'Session ended: too many sessions',
  'password.changed': 'Password changed',
  'roles.changed': 'Roles changed',
  'user.disabled': 'Account disabled',
  'user.enabled': 'Account enabled',
  'sessions.revoked-all': 'All sessions revoked',
  'events.missed': 'Some events may be missing from this list',
};

/** Who did it, when not the user: an administrator, or the system for timeouts and the cap. */
function actorText(event) {
  if (event.actor) return event.actor.id === event.userId ? '' : event.actor.username;
  return event.type === 'session.expired' || event.type === 'session.evicted' ? 'system' : '';
}

/** Why, where it adds to the type ("Logged out" needs no "logout"); unknown reasons as sent. */
const REASON_WORDS = {
  self: 'by you',
  admin: 'by an administrator',
  disable: 'account disabled',
  disabled: 'account disabled',
  password: 'password changed',
  logout: null,
  trimmed: 'too many at once',
  lost: 'the store lost them',
  unreadable: 'one could not be read',
};

function activityRow(event) {
  const what = fragment(document.createTextNode(EVENT_WORDS[event.type] || event.type));
  const reason =
    event.reason in REASON_WORDS
      ? REASON_WORDS[event.reason]
      : event.reason && event.reason.replace(/[-_.]/g, ' ');
  if (reason) what.append(' ', tag(reason, 'muted'));
  const tr = row([what, when(event.at), event.device || '', event.ip || '', actorText(event)]);
  tr.dataset.type = event.type;
  return tr;
}

/** A security activity table, newest first, that pages on with "More". */
class ActivityFeed {
  constructor(tbody, more) {
    this.tbody = tbody;
    this.more = more;
    this.path = null;
    this.next = null;
    more.addEventListener('click', () => attempt(() => this.load(true)));
  }

  show(path) {
    this.path = path;
    return this.load(false);
  }

  forget() {
    this.path = null;
    this.next = null;
    this.tbody.replaceChildren();
    this.more.hidden = true;
  }

  reload() {
    return this.path ? this.load(false) : null;
  }

  async load(append) {
    const cursor = append && this.next ? `?cursor=${encodeURIComponent(this.next)}` : '';
    const { path } = this;
    const reader = me;
    const page = await api('GET', `${path}${cursor}`);
    // Another user's activity (an admin opened someone else meanwhile) is not this table's.
    if (!stillFor(reader) || this.path !== path) return;
    const rows = page.items.map(activityRow);
    if (append) this.tbody.append(...rows);
    else this.tbody.replaceChildren(...(rows.length ? rows : [noteRow('Nothing yet.', 5)]));
    this.next = page.next || null;
    this.more.hidden = !this.next;
  }
}

const myActivity = new ActivityFeed($('#activity-rows'), $('#activity-more'));

$('#activity-refresh').addEventListener('click', () => attempt(() => myActivity.reload()));

// ---- administration ---------------------------------------------------------------------

/** The user list's paging: the cursor of every page seen so far, so "Previous" needs none. */
const userList = { search: '', cursors: [null], page: 0, next: null };
let selected = null;

async function loadUsers() {
  const query = new URLSearchParams();
  if (userList.search) query.set('search', userList.search);
  const cursor = userList.cursors[userList.page];
  if (cursor) query.set('cursor', cursor);
  const reader = me;
  const { items, next } = await api('GET', `/api/auth/users?${query}`);
  if (!stillFor(reader)) return;
  userList.next = next || null;
  const rows = items.map((user) => {
    const tr = row([
      user.username,
      user.roles.join(', ') || '(none)',
      user.disabled ? tag('disabled', 'tag bad') : 'active',
      String(user.sessionCount),
      day(user.createdAt),
      button('Open', () => attempt(() => openUser(user))),
    ]);
    tr.cells[3].className = 'num';
    tr.dataset.username = user.username;
    if (selected && selected.id === user.id) tr.classList.add('selected');
    return tr;
  });
  $('#user-rows').replaceChildren(...(rows.length ? rows : [noteRow('No user matches.', 6)]));
  // Which search the rows answer: a newer search's rows are never mistaken for an older one's.
  $('#user-rows').dataset.search = userList.search;
  $('#users-prev').disabled = userList.page === 0;
  $('#users-next').disabled = !userList.next;
  $('#users-page').textContent = `Page ${userList.page + 1}`;
}

$('#user-search').addEventListener('submit', (event) => {
  event.preventDefault();
  userList.search = String(new FormData(event.target).get('search')).trim();
  delete $('#user-rows').dataset.search;
  userList.cursors = [null];
  userList.page = 0;
  attempt(loadUsers);
});

$('#users-next').addEventListener('click', () => {
  if (!userList.next) return;
  userList.cursors[userList.page + 1] = userList.next;
  userList.page += 1;
  attempt(loadUsers);
});

$('#users-prev').addEventListener('click', () => {
  if (userList.page === 0) return;
  userList.page -= 1;
  attempt(loadUsers);
});

const userActivity = new ActivityFeed($('#detail-activity-rows'), $('#detail-activity-more'));

function userPath(suffix = '') {
  return `/api/auth/users/${encodeURIComponent(selected.id)}${suffix}`;
}

function renderSelected() {
  $('#detail-username').textContent = selected.username;
  $('#detail-status').textContent = `${selected.disabled ? 'Disabled' : 'Active'}; roles: ${
    selected.roles.join(', ') || '(none)'
  }`;
  $('#detail-disable').textContent = selected.disabled ? 'Enable account' : 'Disable account';
  for (const box of document.querySelectorAll('#detail-roles input[name=roles]')) {
    box.checked = selected.roles.includes(box.value);
  }
  $('#detail-roles-error').hidden = true;
  for (const tr of document.querySelectorAll('#user-rows tr')) {
    tr.classList.toggle('selected', tr.dataset.username === selected.username);
  }
}

async function openUser(user) {
  selected = user;
  renderSelected();
  $('#user-detail').hidden = false;
  await Promise.all([
    section(loadUserSessions, $('#detail-session-rows'), 6),
    section(() => userActivity.show(userPath('/activity')), $('#detail-activity-rows'), 5),
  ]);
  $('#user-detail').scrollIntoView({ block: 'nearest' });
}

async function loadUserSessions() {
  const reader = me;
  const { id } = selected;
  const sessions = await api('GET', userPath('/sessions'));
  if (!stillFor(reader) || selected?.id !== id) return;
  const rows = sessions.map((session) =>
    sessionRow(session, () =>
      attempt(async () => {
        await api('DELETE', userPath(`/sessions/${encodeURIComponent(session.id)}`));
        await afterUserChange();
      }, `Session of ${selected.username} revoked.`),
    ),
  );
  $('#detail-session-rows').replaceChildren(
    ...(rows.length ? rows : [noteRow('No live session.', 6)]),
  );
}

/** What an admin action may have changed: their sessions, the counts, the activity. */
async function afterUserChange() {
  await Promise.all([loadUserSessions(), loadUsers(), userActivity.reload()]);
}

function closeUser() {
  selected = null;
  userActivity.forget();
  $('#user-detail').hidden = true;
  for (const tr of document.querySelectorAll('#user-rows tr')) tr.classList.remove('selected');
}

$('#detail-close').addEventListener('click', closeUser);

$('#detail-disable').addEventListener('click', () => {
  const disabled = !selected.disabled;
  attempt(
    async () => {
      const user = await api('PUT', userPath('/disabled'), { disabled });
      selected = { ...selected, ...user };
      renderSelected();
      await afterUserChange();
    },
    `${selected.username} is ${disabled ? 'disabled: every session of theirs has ended' : 'enabled'}.`,
  );
});

// On one's own row auth keeps the session asking, as "log out my other devices" does.
$('#detail-revoke-all').addEventListener('click', () =>
  attempt(
    async () => {
      await api('DELETE', userPath('/sessions'));
      await afterUserChange();
    },
    selected.id === me?.id
      ? 'Every other session of yours is revoked.'
      : `Every session of ${selected.username} is revoked.`,
  ),
);

$('#detail-roles').addEventListener('submit', (event) => {
  event.preventDefault();
  const roles = new FormData(event.target).getAll('roles');
  attempt(
    async () => {
      const user = await api('PUT', userPath('/roles'), { roles });
      selected = { ...selected, ...user };
      renderSelected();
      await loadUsers();
      if (selected.id === me.id) await showApp();
    },
    'Roles saved: they apply to the user’s sessions on their next request.',
    $('#detail-roles-error'),
  );
});

$('#user-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const username = String(form.get('username'));
  attempt(
    async () => {
      await api('POST', '/api/auth/users', {
        username,
        password: form.get('password'),
        roles: form.getAll('roles'),
      });
      event.target.reset();
      await loadUsers();
    },
    `User ${username} created.`,
    $('#user-form-error'),
  );
});

$('#product-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  attempt(async () => {
    await api('POST', '/api/catalog/products', {
      sku: form.get('sku'),
      name: form.get('name'),
      priceCents: Number(form.get('priceCents')),
    });
    event.target.reset();
    await loadProducts();
  }, 'Product created.');
});

$('#revoke-everything').addEventListener('click', () => {
  if (!window.confirm('End every session of every user now? Only this one stays.')) return;
  attempt(async () => {
    await api('POST', '/api/auth/revoke-all');
    await Promise.all([loadSessions(), loadUsers(), selected ? loadUserSessions() : null]);
  }, 'Every other session of every user is revoked.');
});

// ---- start ------------------------------------------------------------------------------

/** The demo-credentials hint, only where the auth service has seeded demo users. */
async function showDemoHint() {
  const demo = await request('GET', '/api/auth/demo-users').catch(() => null);
  const usernames = (demo && demo.usernames) || [];
  $('#demo-users').textContent = usernames.join(', ');
  $('#demo-hint').hidden = usernames.length === 0;
}

showDemoHint();

attempt(async () => {
  try {
    await showApp();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) showLogin();
    else throw error;
  }
});
