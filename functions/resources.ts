import { registerRoute } from '../src/host/azure-functions';
import { defineRoute } from '../src/host/route-definition';

export const route = defineRoute({
  name: 'resources',
  route: 'resources/{name?}',
  methods: ['GET', 'PUT', 'DELETE'],
  handle: (gateway, request, context) => gateway.handle(gateway.resources, request, context),
});

registerRoute(route);
