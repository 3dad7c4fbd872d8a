import { app } from '@azure/functions';
import { registerRoute } from '../src/host/azure-functions';
import { defineRoute } from '../src/host/route-definition';
import { PROXY_METHODS } from '../src/proxy/proxy-api';

// Bodies stream both ways (a 100 MB upload is never held in memory). Outside the host a no-op.
app.setup({ enableHttpStream: true });

export const route = defineRoute({
  name: 'proxy',
  route: 'proxy/{resource}/{*path}',
  methods: [...PROXY_METHODS],
  handle: (gateway, request, context) => gateway.handle(gateway.proxy, request, context),
});

registerRoute(route);
