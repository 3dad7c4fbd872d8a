import { registerRoute } from '../src/host/azure-functions';
import { defineRoute } from '../src/host/route-definition';

export const route = defineRoute({
  name: 'revocations',
  route: 'revocations',
  methods: ['POST'],
  handle: (gateway, request, context) => gateway.handle(gateway.revocations, request, context),
});

registerRoute(route);
