// The Functions app's entry (package.json `main`): every route of the gateway's route table.
import { registerRoutes } from '../src/host/azure-functions';
import { ROUTES } from '../src/routes';

registerRoutes(ROUTES);
