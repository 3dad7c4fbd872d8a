import { app } from '@azure/functions';
import {
  answerOrders,
  ordersRoute,
  ordersSettingsFromEnv,
  type OrdersSettings,
} from '../../../src/host/local/orders-downstream';

// The sample as its own Functions app: the same route the local stack serves, settings from app
// settings (GATEWAY_ISSUER). The host checks the function key the gateway sends (the channel);
// the code checks the gateway's statement of who is calling.
const route = ordersRoute(() => undefined);
let settings: OrdersSettings | undefined;

app.http(route.name, {
  route: route.template,
  methods: [...route.methods],
  authLevel: 'function',
  handler: (request, context) =>
    answerOrders((settings ??= ordersSettingsFromEnv(process.env)), request, context),
});
