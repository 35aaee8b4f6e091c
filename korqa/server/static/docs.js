// Swagger UI from the installed fastapi-offline package (no CDN: /docs works offline and under the CSP).
"use strict";
window.ui = SwaggerUIBundle({ url: "openapi.json", dom_id: "#swagger-ui" });
