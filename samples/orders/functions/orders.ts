import { app } from '@azure/functions';
import {
  answerOrders,
  ordersRoute,
  ordersSettingsFromEnv,
  type OrdersSettings,
} from '../../../src/host/local/orders-downstream';

// The sample as its own Functions app: the same route the local stack serves, settings from app settings.
const route = ordersRoute(() => undefined);
let settings: OrdersSettings | undefined;

app.http(route.name, {
  route: route.template,
  methods: [...route.methods],
  // The gateway is the only caller, proven by its x-gateway-principal statement, not a function key.
  authLevel: 'anonymous',
  handler: (request, context) =>
    answerOrders((settings ??= ordersSettingsFromEnv(process.env)), request, context),
});
