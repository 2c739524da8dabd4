// The console's only way to the data: the public /v1 HTTP API, with the key in the
// Authorization header (never in a URL), exactly as any other client calls it.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// A name as one path segment. '.' is escaped too: browsers would resolve a bare "." or ".."
// segment as a path step, and the service reads %2E as the name ".".
export function segment(name) {
  return encodeURIComponent(name).replace(/\./g, "%2E");
}

export class Api {
  constructor(key) {
    this.key = key;
    this.tenant = null; // null: the key's own tenant (/v1/collections…)
  }

  // The base path of the collections of the tenant being shown.
  collections() {
    return this.tenant === null ? "v1/collections" : `v1/tenants/${segment(this.tenant)}/collections`;
  }

  collection(name, tail = "") {
    return `${this.collections()}/${segment(name)}${tail}`;
  }

  async call(method, path, body) {
    const init = { method, headers: { Authorization: `Bearer ${this.key}` }, cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(new URL(path, document.baseURI), init);
    } catch (err) {
      throw new ApiError(0, "unavailable", `the service did not answer (${err.message})`);
    }
    const answer = await response.json().catch(() => null);
    if (!response.ok) {
      const error = answer && answer.error ? answer.error : {};
      throw new ApiError(
        response.status,
        error.code || `http_${response.status}`,
        error.message || response.statusText,
      );
    }
    return answer;
  }

  whoami() {
    return this.call("GET", "v1/whoami");
  }

  tenants() {
    return this.call("GET", "v1/tenants");
  }

  listCollections() {
    return this.call("GET", this.collections());
  }

  describeIndex(name) {
    return this.call("GET", this.collection(name, "/index"));
  }

  count(name, filter) {
    return this.call("POST", this.collection(name, "/count"), { filter });
  }

  scroll(name, filter, after, limit) {
    return this.call("POST", this.collection(name, "/scroll"), { filter, after, limit });
  }

  ids(name, filter, after, limit) {
    return this.call("POST", this.collection(name, "/ids"), { filter, after, limit });
  }

  fetchItems(name, ids) {
    return this.call("POST", this.collection(name, "/fetch"), { ids });
  }

  search(name, request) {
    return this.call("POST", this.collection(name, "/search"), request);
  }
}

// Whether this service's search takes `text` (contract §14), read from its OpenAPI document:
// the field is shown only where a request with it can succeed.
export async function searchTakesText() {
  try {
    const response = await fetch(new URL("openapi.json", document.baseURI));
    const doc = await response.json();
    const props = doc.components.schemas.SearchRequest.properties;
    return Object.prototype.hasOwnProperty.call(props, "text");
  } catch {
    return false;
  }
}
