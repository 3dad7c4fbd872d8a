import { registerRoute } from '../src/host/azure-functions';
import { defineRoute } from '../src/host/route-definition';

export const route = defineRoute({
  name: 'health',
  route: 'health',
  methods: ['GET'],
  handle: (gateway, request, context) => gateway.handle(gateway.health, request, context),
});

registerRoute(route);
