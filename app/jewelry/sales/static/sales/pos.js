// The point of sale's script (issue 16): search as you type against /pos/search/, a cart,
// customer lookup against /pos/customers/, checkout through POST /pos/checkout/ with the
// CSRF token of the page. Plain ES2017, no build chain; served hashed and compressed.
(function () {
  "use strict";
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
  const cart = new Map();  // item id -> {item, quantity}
  let customer = null;

  function cents(value) { return Math.round(parseFloat(value) * 100); }
  function money(c) { return (c / 100).toFixed(2); }
  function cell(row, text, cls) {
    const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls; return td;
  }
  function button(label, onClick) {
    const b = document.createElement("button"); b.type = "button"; b.textContent = label;
    b.addEventListener("click", onClick); return b;
  }
  function debounce(fn) {
    let timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(fn, 200); };
  }
  async function getJson(url) {
    const response = await fetch(url, {headers: {"Accept": "application/json"}});
    return response.json();
  }

  function renderCart() {
    const body = document.querySelector("#cart tbody");
    body.replaceChildren();
    let total = 0;
    for (const [id, entry] of cart) {
      const line = cents(entry.item.price) * entry.quantity;
      total += line;
      const row = body.insertRow();
      cell(row, entry.item.sku + " " + entry.item.name);
      cell(row, String(entry.quantity), "num");
      cell(row, entry.item.price, "num");
      cell(row, money(line), "num");
      row.insertCell().append(button("Remove", function () { cart.delete(id); renderCart(); }));
    }
    document.getElementById("cart-total").textContent = money(total);
    return total;
  }

  function addToCart(item) {
    const entry = cart.get(item.id) || {item: item, quantity: 0};
    if (entry.quantity < item.quantity) { entry.quantity += 1; }
    cart.set(item.id, entry);
    renderCart();
  }

  async function searchProducts() {
    const q = document.getElementById("product-q").value;
    const data = await getJson("/pos/search/?q=" + encodeURIComponent(q));
    const body = document.querySelector("#product-results tbody");
    body.replaceChildren();
    for (const item of data.results || []) {
      const row = body.insertRow();
      cell(row, item.sku); cell(row, item.name);
      cell(row, item.price, "num"); cell(row, String(item.quantity), "num");
      const action = row.insertCell();
      if (item.in_stock) { action.append(button("Add", function () { addToCart(item); })); }
      else { action.textContent = "out of stock"; }
    }
  }

  async function searchCustomers() {
    const q = document.getElementById("customer-q").value;
    const data = await getJson("/pos/customers/?q=" + encodeURIComponent(q));
    const list = document.getElementById("customer-results");
    list.replaceChildren();
    for (const c of data.results || []) {
      const li = document.createElement("li");
      li.append(button(c.name + " <" + c.email + "> · " + c.loyalty_points + " pts", function () {
        customer = c;
        document.getElementById("customer-selected").textContent = c.name;
      }));
      list.append(li);
    }
  }

  async function checkout() {
    const total = renderCart();
    const result = document.getElementById("checkout-result");
    if (!cart.size) { result.textContent = "The cart is empty."; return; }
    const terminal = document.getElementById("terminal").value;
    const body = {
      customer_id: customer ? customer.id : null,
      terminal_id: terminal ? parseInt(terminal, 10) : null,
      items: Array.from(cart.values(), function (e) { return {item_id: e.item.id, quantity: e.quantity}; }),
      payments: [{method: document.getElementById("payment-method").value, amount: money(total)}],
    };
    const response = await fetch("/pos/checkout/", {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify(body),
    });
    const data = await response.json();
    if (response.status === 201) {
      result.textContent = "Sale " + data.number + " recorded: " + data.total +
        (data.loyalty_points_awarded ? " (+" + data.loyalty_points_awarded + " points)" : "");
      result.className = "pos-result ok";
      result.dataset.saleNumber = data.number;  // what a browser test waits for
      cart.clear(); renderCart(); searchProducts();
    } else {
      result.textContent = "Not sold: " + (data.message || data.error);
      result.className = "pos-result error";
    }
  }

  document.getElementById("product-q").addEventListener("input", debounce(searchProducts));
  document.getElementById("customer-q").addEventListener("input", debounce(searchCustomers));
  document.getElementById("customer-clear").addEventListener("click", function () {
    customer = null;
    document.getElementById("customer-selected").textContent = "walk-in (no loyalty points)";
  });
  document.getElementById("checkout").addEventListener("click", checkout);
  searchProducts();
})();
