import { app } from '@azure/functions';
import {
  ordersRoute,
  ordersSettingsFromEnv,
  type OrdersSettings,
} from '../../../src/host/local/orders-downstream';

// The sample as its own Functions app: the same route the local stack serves (one verifier, so
// the gateway's JWKS is fetched once and cached), settings from app settings (GATEWAY_ISSUER).
// The host checks the function key the gateway sends (the channel); the code checks the
// gateway's statement of who is calling.
let settings: OrdersSettings | undefined;
const route = ordersRoute(() => (settings ??= ordersSettingsFromEnv(process.env)));

app.http(route.name, {
  route: route.template,
  methods: [...route.methods],
  authLevel: 'function',
  handler: (request, context) => route.handle(request, context),
});
