// The storefront and the back office driven in headless Chromium, as people use them.
//
// Run by the Rust test `crates/comptoir/tests/web` against a running shop (monolith or
// distributed), which passes the addresses and accounts through the environment:
//   STOREFRONT_URL, BACKOFFICE_URL       where the two faces answer
//   ADMIN_EMAIL / ADMIN_PASSWORD         a staff admin
//   SUPPORT_EMAIL / SUPPORT_PASSWORD     a staff member with the support role only
//   CASHIER_EMAIL / CASHIER_PASSWORD     a cashier at the demo's Lyon store
//   TILL_SKU                             a SKU on the Lyon store's shelves (two units or more)
//   DECLINED_EMAIL, BUYER_EMAIL          two existing customers (one per scenario that needs one)
//   CUSTOMER_PASSWORD                    their password
//   SCREENSHOT_DIR                       where to keep screenshots of the key pages (optional)
//   CHROMIUM                             the browser (default /usr/bin/chromium)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} must be set`);
  return value;
};
const STOREFRONT = env('STOREFRONT_URL');
const BACKOFFICE = env('BACKOFFICE_URL');
const SHOTS = process.env.SCREENSHOT_DIR;
const unique = () => `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});
after(async () => browser && browser.close());

/// A fresh visitor: own cookies, downloads accepted, a laptop-sized window.
async function visitor() {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const problems = [];
  // A page that breaks its own Content-Security-Policy or throws shows it here (a page answered
  // with an error status on purpose, such as 402 for a declined card, is not a problem).
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  return { context, page, problems };
}

async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/// Reloads until `check` passes: events (invoice issued, shipment created) arrive a moment later.
async function eventually(page, check, what) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (await check()) return;
    assert.ok(Date.now() < deadline, `gave up waiting for ${what}`);
    await page.waitForTimeout(300);
    await page.reload();
  }
}

async function addFirstProductInStock(page) {
  await page.goto(`${STOREFRONT}/`);
  await page.locator('.card', { has: page.locator('.stock-in') }).first().locator('a.card-link').click();
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await page.waitForURL('**/cart');
}

async function fillAddress(page) {
  await page.getByLabel('Full name').fill('Ada Lovelace');
  await page.getByLabel(/^Address( \*)?$/).fill('12 rue des Écoles');
  await page.getByLabel('Postal code').fill('75005');
  await page.getByLabel('City').fill('Paris');
  await page.getByLabel('Country code (FR, DE…)').fill('FR');
  await page.getByRole('button', { name: 'Update shipping options and totals' }).click();
  await page.locator('input[name=shipping_method]').first().check();
}

async function signInCustomer(page, email, password) {
  await page.goto(`${STOREFRONT}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.locator('main').getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/login'));
}

async function signInStaff(page, email, password) {
  await page.goto(`${BACKOFFICE}/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/login'));
}

test('a new visitor buys a product from the home page to the confirmation, and downloads the invoice', async () => {
  const { context, page, problems } = await visitor();
  await page.goto(`${STOREFRONT}/`);
  await shot(page, 'storefront-home');
  // Typing in the search box suggests products (htmx, within the page's CSP).
  const firstName = await page.locator('.card-name').first().innerText();
  await page.getByLabel('Search products').pressSequentially(firstName.slice(0, 6), { delay: 30 });
  await page.locator('.suggestions a', { hasText: firstName }).first().waitFor();
  await page.getByLabel('Search products').fill('');
  await page.locator('.card', { has: page.locator('.stock-in') }).first().locator('a.card-link').click();
  await shot(page, 'storefront-product');
  const productName = await page.locator('h1').innerText();
  await page.getByRole('button', { name: 'Add to cart' }).click();
  await page.waitForURL('**/cart');
  assert.match(await page.locator('table.lines').innerText(), new RegExp(productName));
  await shot(page, 'storefront-cart');

  // Checking out asks a visitor to sign in or register; the cart comes along.
  await page.getByRole('link', { name: 'Check out' }).click();
  await page.waitForURL('**/login?next=*');
  await page.locator('main').getByRole('link', { name: 'Create an account' }).click();
  await page.getByLabel('Email').fill(`visitor-${unique()}@shop.test`);
  await page.getByLabel('Password (10 characters or more)').fill('a long enough password');
  await page.getByLabel('Password again').fill('a long enough password');
  await page.getByRole('button', { name: 'Create my account' }).click();
  await page.waitForURL('**/checkout');
  assert.match(await page.locator('.summary').innerText(), new RegExp(productName));

  await fillAddress(page);
  await shot(page, 'storefront-checkout');
  await page.getByRole('button', { name: 'Place order and pay' }).click();
  await page.waitForURL('**/checkout/confirmation/*');
  const confirmation = await page.locator('.confirmation').innerText();
  assert.match(confirmation, /Thank you! Your order CO-\d+ is placed/);
  await shot(page, 'storefront-confirmation');

  // The invoice is issued as the order is confirmed; its PDF downloads from the order page.
  const download = page.getByRole('link', { name: /Download invoice/ });
  await eventually(page, async () => (await download.count()) > 0, 'the invoice');
  const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
  assert.match(file.suggestedFilename(), /^INV-\d{4}-\d+\.pdf$/);
  const pdf = await readFile(await file.path());
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
  // The cart closes when the cart module handles the order's confirmation event, an instant after
  // the order: the next page shows it empty.
  const cartSize = page.locator('.cart-link .count');
  await eventually(page, async () => (await cartSize.innerText()) === '0', 'the cart to be empty after the order');
  assert.deepEqual(problems, []);
  await context.close();
});

test('a declined payment is shown and no order is placed', async () => {
  const { context, page, problems } = await visitor();
  await signInCustomer(page, env('DECLINED_EMAIL'), env('CUSTOMER_PASSWORD'));
  await page.goto(`${STOREFRONT}/account/orders`);
  const ordersBefore = await page.locator('tbody tr').count();
  await addFirstProductInStock(page);
  const cartCount = await page.locator('.cart-link .count').innerText();
  await page.goto(`${STOREFRONT}/checkout`);
  await fillAddress(page);
  await page.getByLabel('Test card: declined (insufficient funds)').check();
  await page.getByRole('button', { name: 'Place order and pay' }).click();

  const alert = page.getByRole('alert');
  assert.match(await alert.innerText(), /Your payment was declined: .*insufficient funds.*No order was placed/i);
  assert.equal(new URL(page.url()).pathname, '/checkout');
  await shot(page, 'storefront-payment-declined');
  assert.equal(await page.locator('.cart-link .count').innerText(), cartCount, 'the cart keeps its items');
  await page.goto(`${STOREFRONT}/account/orders`);
  const rows = page.locator('tbody tr');
  const statuses = await rows.locator('.badge').allInnerTexts();
  assert.ok(!statuses.slice(0, (await rows.count()) - ordersBefore).some((s) => s !== 'Cancelled'),
    `a declined checkout leaves no live order: ${statuses}`);
  assert.deepEqual(problems, []);
  await context.close();
});

test('staff create a product, stock it, see a customer order it, ship it and refund it', async () => {
  const staff = await visitor();
  const bo = staff.page;
  await signInStaff(bo, env('ADMIN_EMAIL'), env('ADMIN_PASSWORD'));
  await shot(bo, 'backoffice-dashboard');

  const name = `Browser lamp ${unique()}`;
  const sku = `LAMP-${unique().toUpperCase()}`;
  await bo.goto(`${BACKOFFICE}/products/new`);
  await bo.getByLabel('Seller').selectOption({ index: 1 });
  await bo.getByLabel(/^Name( \*)?$/).fill(name);
  await bo.getByLabel('Description').fill('A lamp made in a browser test.');
  await bo.getByLabel('SKU').fill(sku);
  await bo.getByLabel(/^Price in/).fill('29.90');
  await bo.getByLabel('Weight in grams').fill('1200');
  await shot(bo, 'backoffice-new-product');
  await bo.getByRole('button', { name: 'Create the product' }).click();
  await bo.waitForURL(/\/products\/[0-9a-f-]{36}$/);
  assert.equal(await bo.locator('#product-status').innerText(), 'Published');

  await bo.getByRole('link', { name: 'Stock' }).last().click();
  await bo.waitForURL('**/stock?sku=*');
  await bo.getByLabel('Units received').fill('5');
  await bo.getByRole('button', { name: 'Receive' }).click();
  assert.equal(await bo.locator('#available').innerText(), '5');
  await shot(bo, 'backoffice-stock');

  // A customer buys it on the storefront.
  const shopper = await visitor();
  const sf = shopper.page;
  await signInCustomer(sf, env('BUYER_EMAIL'), env('CUSTOMER_PASSWORD'));
  // The search index follows catalog's events: the new product is findable an instant after it
  // is published, so look again until it is.
  for (let tries = 0; tries < 50; tries++) {
    await sf.goto(`${STOREFRONT}/search?q=${encodeURIComponent(name)}`);
    if (await sf.getByRole('link', { name }).count()) break;
    await sf.waitForTimeout(100);
  }
  await sf.getByRole('link', { name }).click();
  await sf.getByRole('button', { name: 'Add to cart' }).click();
  await sf.goto(`${STOREFRONT}/checkout`);
  await fillAddress(sf);
  await sf.getByRole('button', { name: 'Place order and pay' }).click();
  await sf.waitForURL('**/checkout/confirmation/*');
  const number = (await sf.locator('.confirmation h1').innerText()).match(/CO-\d+/)[0];

  // It arrives in the back office.
  await bo.goto(`${BACKOFFICE}/orders`);
  await bo.getByRole('link', { name: number }).click();
  await bo.waitForURL(/\/orders\/[0-9a-f-]{36}$/);
  assert.equal(await bo.locator('#order-status').innerText(), 'Confirmed');
  const shipButton = bo.getByRole('button', { name: 'Mark as shipped' });
  await eventually(bo, async () => (await shipButton.count()) > 0, 'the shipment');
  await shot(bo, 'backoffice-order');
  await shipButton.click();
  assert.match(await bo.locator('.flash').innerText(), /Marked as shipped/);
  await eventually(bo, async () => (await bo.locator('#order-status').innerText()) === 'Shipped', 'the order shipped');

  await bo.getByLabel('Reason').first().fill('Customer changed their mind');
  await bo.getByRole('button', { name: 'Refund' }).click();
  assert.match(await bo.locator('.flash').innerText(), /Refunded/);
  await eventually(bo, async () => (await bo.locator('#order-status').innerText()) === 'Refunded', 'the refund');
  const total = await bo.locator('tfoot .total .num').innerText();
  assert.equal(await bo.locator('#refunded').innerText(), total);
  assert.deepEqual(staff.problems, []);
  assert.deepEqual(shopper.problems, []);
  await staff.context.close();
  await shopper.context.close();
});

test('a support agent cannot open the admin settings', async () => {
  const { context, page } = await visitor();
  await signInStaff(page, env('SUPPORT_EMAIL'), env('SUPPORT_PASSWORD'));
  const menu = await page.getByRole('navigation', { name: 'Back office' }).innerText();
  assert.match(menu, /Orders/);
  assert.doesNotMatch(menu, /Settings|API keys|Dead letters/);
  const response = await page.goto(`${BACKOFFICE}/settings`);
  assert.equal(response.status(), 403);
  assert.match(await page.locator('main').innerText(), /settings:manage/);
  await context.close();

  const admin = await visitor();
  await signInStaff(admin.page, env('ADMIN_EMAIL'), env('ADMIN_PASSWORD'));
  const settings = await admin.page.goto(`${BACKOFFICE}/settings`);
  assert.equal(settings.status(), 200);
  await shot(admin.page, 'backoffice-settings');
  await admin.context.close();
});

test('pages fit a phone screen without scrolling sideways', async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const page = await context.newPage();
  await page.goto(`${STOREFRONT}/`);
  const product = await page.locator('.card a.card-link').first().getAttribute('href');
  for (const path of ['/', product, '/cart', '/login', '/register']) {
    await page.goto(`${STOREFRONT}${path}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${path} is ${overflow}px wider than the phone`);
  }
  await page.goto(`${STOREFRONT}${product}`);
  await shot(page, 'storefront-phone');
  await context.close();
});

test('an admin opens every section of the back office', async () => {
  const { context, page, problems } = await visitor();
  await signInStaff(page, env('ADMIN_EMAIL'), env('ADMIN_PASSWORD'));
  const links = await page.getByRole('navigation', { name: 'Back office' }).getByRole('link').evaluateAll(
    (anchors) => anchors.map((a) => a.getAttribute('href')));
  assert.ok(links.length >= 12, `every section is in the menu: ${links}`);
  for (const href of links) {
    const response = await page.goto(`${BACKOFFICE}${href}`);
    assert.equal(response.status(), 200, `${href} opens`);
    assert.ok((await page.locator('main h1').count()) > 0, `${href} has a heading`);
  }
  await page.goto(`${BACKOFFICE}/reports/sales`);
  assert.ok((await page.locator('svg[role=img]').count()) > 0, 'the sales chart is drawn');
  await shot(page, 'backoffice-sales-report');
  await page.goto(`${BACKOFFICE}/customers`);
  await shot(page, 'backoffice-customers');
  assert.deepEqual(problems, []);
  await context.close();
});

test('a cashier rings up a cash sale at the till, prints the receipt and takes a return', async () => {
  const { context, page, problems } = await visitor();
  await signInStaff(page, env('CASHIER_EMAIL'), env('CASHIER_PASSWORD'));
  const menu = await page.getByRole('navigation', { name: 'Back office' }).innerText();
  assert.match(menu, /Till/);
  assert.doesNotMatch(menu, /Settings|Audit log|Reports/);
  await page.getByRole('navigation', { name: 'Back office' }).getByRole('link', { name: 'Till' }).click();
  await page.getByLabel(/^SKU/).fill('NO-SUCH-SKU');
  await page.getByRole('button', { name: 'Add to the basket' }).click();
  assert.ok(await page.locator('#sku-error').isVisible(), 'an unknown SKU is shown beside the field');
  await page.getByLabel(/^SKU/).fill(env('TILL_SKU'));
  await page.getByLabel('Quantity').fill('2');
  await page.getByRole('button', { name: 'Add to the basket' }).click();
  await page.locator('table.lines .sku', { hasText: env('TILL_SKU') }).waitFor();
  const total = (await page.locator('tfoot .total td.num').innerText()).trim();
  await page.getByLabel('Cash handed over (such as 20.00)').fill('1000.00');
  await shot(page, 'backoffice-till');
  await page.getByRole('button', { name: /Take payment of/ }).click();
  await page.waitForURL('**/till/sales/*');
  const receipt = await page.locator('pre.receipt').innerText();
  assert.match(receipt, /Comptoir Lyon/);
  assert.ok(receipt.includes(total.replace(/[^0-9.,]/g, '')), `the receipt shows the total ${total}:\n${receipt}`);
  await shot(page, 'backoffice-till-receipt');

  const returnLine = page.locator('input[name^="return-"]').first();
  await returnLine.fill('1');
  await page.getByLabel(/Reason/).fill('Wrong size');
  await page.getByRole('button', { name: 'Refund the units' }).click();
  await page.waitForURL('**/till/sales/*');
  assert.match(await page.locator('main').innerText(), /Wrong size/);
  assert.deepEqual(problems, []);
  await context.close();
});
