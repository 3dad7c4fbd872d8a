import { registerRoute } from '../src/host/azure-functions';
import { defineRoute } from '../src/host/route-definition';
import { oauthErrorResponse } from '../src/sas/oauth-error';

export const route = defineRoute({
  name: 'token',
  route: 'token',
  methods: ['POST'],
  handle: (gateway, request, context) => gateway.handle(gateway.token, request, context, oauthErrorResponse),
});

registerRoute(route);
