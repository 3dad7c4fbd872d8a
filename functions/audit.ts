import { registerRoute } from '../src/host/azure-functions';
import { defineRoute } from '../src/host/route-definition';

export const route = defineRoute({
  name: 'audit',
  route: 'audit',
  methods: ['GET'],
  handle: (gateway, request, context) => gateway.handle(gateway.auditQuery, request, context),
});

registerRoute(route);
