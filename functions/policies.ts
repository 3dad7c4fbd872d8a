import { registerRoute } from '../src/host/azure-functions';
import { defineRoute } from '../src/host/route-definition';

export const route = defineRoute({
  name: 'policies',
  route: 'policies/{id?}',
  methods: ['GET', 'PUT', 'DELETE'],
  handle: (gateway, request, context) => gateway.handle(gateway.policies, request, context),
});

registerRoute(route);
