// The page talks to the services through the gateway, on its own origin. The session token
// lives in an HttpOnly cookie: this script never sees it, the browser sends it.
'use strict';

const $ = (selector) => document.querySelector(selector);

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) {
    return null;
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, (data && data.message) || response.statusText);
  }
  return data;
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

function button(label, onClick, className = 'secondary') {
  const element = document.createElement('button');
  element.type = 'button';
  element.className = className;
  element.textContent = label;
  element.addEventListener('click', onClick);
  return element;
}

let me = null;

/** Runs an action; a 401 means the session ended (revoked, expired): back to the login form. */
async function attempt(action, success) {
  try {
    await action();
    if (success) flash(success);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && me) {
      showLogin('Your session has ended. Please log in again.');
      return;
    }
    flash(error instanceof ApiError ? `${error.status}: ${error.message}` : String(error), true);
  }
}

function showLogin(message) {
  me = null;
  $('#app-view').hidden = true;
  $('#whoami-bar').hidden = true;
  $('#login-view').hidden = false;
  if (message) flash(message, true);
}

async function showApp() {
  const { user, session } = await api('GET', '/api/auth/session');
  me = user;
  $('#login-view').hidden = true;
  $('#app-view').hidden = false;
  $('#whoami-bar').hidden = false;
  $('#bar-user').textContent = user.username;
  $('#me-user').textContent = user.username;
  $('#me-id').textContent = user.id;
  $('#me-roles').textContent = user.roles.join(', ') || '(none)';
  $('#me-expires').textContent = when(session.expiresAt);
  const isAdmin = user.roles.includes('admin');
  $('#admin').hidden = !isAdmin;
  $('#orders-title').textContent = isAdmin ? 'All orders' : 'My orders';
  $('#place-order').hidden = !user.roles.includes('customer');
  await Promise.all([loadProducts(), loadOrders(), loadSessions()]);
}

async function loadProducts() {
  const products = await api('GET', '/api/catalog/products');
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

async function loadOrders() {
  if (!me.roles.includes('customer') && !me.roles.includes('admin')) {
    $('#order-rows').replaceChildren(row(['Your roles do not include orders.']));
    return;
  }
  const orders = await api('GET', '/api/orders');
  const rows = orders.map((order) =>
    row([
      when(order.createdAt),
      order.id.slice(0, 8),
      order.userId,
      order.items.map((item) => `${item.quantity} × ${item.sku}`).join(', '),
    ]),
  );
  $('#order-rows').replaceChildren(...(rows.length ? rows : [row(['No orders yet.'])]));
}

async function loadSessions() {
  const sessions = await api('GET', '/api/auth/sessions');
  const rows = sessions.map((session) => {
    const action = session.current
      ? Object.assign(document.createElement('span'), { className: 'tag', textContent: 'this one' })
      : button('Revoke', () =>
          attempt(async () => {
            await api('DELETE', `/api/auth/sessions/${encodeURIComponent(session.id)}`);
            await loadSessions();
          }, 'Session revoked.'),
        );
    const tr = row([
      when(session.createdAt),
      when(session.lastSeenAt),
      session.ip || '',
      shorten(session.userAgent || '', 60),
      action,
    ]);
    tr.cells[3].title = session.userAgent || '';
    tr.dataset.sessionId = session.id;
    if (session.current) tr.dataset.current = 'true';
    return tr;
  });
  $('#session-rows').replaceChildren(...rows);
}

$('#login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  attempt(async () => {
    await api('POST', '/api/auth/login', {
      username: form.get('username'),
      password: form.get('password'),
    });
    event.target.reset();
    $('#flash').hidden = true;
    await showApp();
  });
});

$('#logout').addEventListener('click', () =>
  attempt(async () => {
    await api('POST', '/api/auth/logout');
    showLogin();
    flash('Logged out.');
  }),
);

$('#order-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const items = [...document.querySelectorAll('#product-rows input')]
    .map((input) => ({ sku: input.dataset.sku, quantity: Number(input.value) }))
    .filter((item) => item.quantity > 0);
  if (!items.length) {
    flash('Choose a quantity for at least one product.', true);
    return;
  }
  attempt(async () => {
    await api('POST', '/api/orders', { items });
    await Promise.all([loadOrders(), loadProducts()]);
  }, 'Order placed.');
});

$('#revoke-others').addEventListener('click', () =>
  attempt(async () => {
    await api('DELETE', '/api/auth/sessions');
    await loadSessions();
  }, 'Every other session is logged out.'),
);

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

$('#roles-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const userId = String(form.get('userId')).trim();
  attempt(async () => {
    await api('PUT', `/api/auth/users/${encodeURIComponent(userId)}/roles`, {
      roles: form.getAll('roles'),
    });
    if (userId === me.id) await showApp();
  }, 'Roles saved: they apply to the user’s sessions on their next request.');
});

/** The demo-credentials hint, only where the auth service has seeded demo users. */
async function showDemoHint() {
  const demo = await api('GET', '/api/auth/demo-users').catch(() => null);
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
