import { registerRoute } from '../src/host/azure-functions';
import { defineRoute } from '../src/host/route-definition';

export const route = defineRoute({
  name: 'authorize',
  route: 'authorize',
  methods: ['POST'],
  handle: (gateway, request, context) => gateway.handle(gateway.authorize, request, context),
});

registerRoute(route);
