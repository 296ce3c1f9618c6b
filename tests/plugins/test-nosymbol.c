/* A shared object that is not a vmpipe plugin: no `vmpipe_plugin` symbol. */
const int not_a_vmpipe_plugin = 1;
