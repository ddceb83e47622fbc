// Renders the OpenAPI document with the vendored Swagger UI (no inline scripts: CSP). "Try it out" from a
// signed-in page sends the session's CSRF token, which the API requires for writes through the session.
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("swagger-ui");
  if (!box || !window.SwaggerUIBundle) return;
  let csrfToken = null;
  try {
    csrfToken = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || null;
  } catch (err) {
    csrfToken = null;
  }
  window.SwaggerUIBundle({
    url: box.dataset.spec,
    domNode: box,
    deepLinking: true,
    validatorUrl: null,
    requestInterceptor: (req) => {
      const sameOrigin = new URL(req.url, window.location.href).origin === window.location.origin;
      if (csrfToken && sameOrigin && !req.headers.Authorization) req.headers["X-CSRFToken"] = csrfToken;
      return req;
    },
    onComplete: () => { box.dataset.ready = "true"; },
  });
});
