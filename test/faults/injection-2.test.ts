import { injectionSuite } from './injection';

injectionSuite(['user remove --node-user', 'certs renew', 'certs renew --rotate-ca', 'first synth']);
