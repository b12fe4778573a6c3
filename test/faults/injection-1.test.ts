import { injectionSuite } from './injection';

injectionSuite(['init', 'init --force', 'user add', 'user remove', 'cache add']);
